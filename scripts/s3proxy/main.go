package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on; the bound address is printed on stdout")
	target := flag.String("target", "", "upstream S3 endpoint, e.g. http://127.0.0.1:9000")
	latency := flag.Duration("latency", 0, "delay added to each request on the way in and again on the way out")
	bandwidth := flag.Int64("bandwidth", 0, "cap in bytes per second for each direction (0: no cap)")
	logRequests := flag.Bool("log", false, "log every request (kind, path, duration) on stderr")
	flag.Parse()
	var logf func(kind, target string, d time.Duration)
	if *logRequests {
		logf = func(kind, target string, d time.Duration) {
			fmt.Fprintf(os.Stderr, "%s %-6s %6.1fms %s\n", time.Now().Format("15:04:05.000"), kind, float64(d.Microseconds())/1000, target)
		}
	}
	if err := run(*listen, *target, *latency, *bandwidth, logf); err != nil {
		fmt.Fprintln(os.Stderr, "s3proxy:", err)
		os.Exit(1)
	}
}

func run(listen, target string, latency time.Duration, bandwidth int64, logf func(kind, target string, d time.Duration)) error {
	if target == "" {
		return errors.New("-target is required (the upstream S3 endpoint)")
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-target %q: want a URL such as http://127.0.0.1:9000", target)
	}
	p := New(u, Options{Latency: latency, Bandwidth: bandwidth, Log: logf})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: p, ErrorLog: log.New(os.Stderr, "s3proxy: ", 0)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

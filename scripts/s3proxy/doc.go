// Command s3proxy is an HTTP reverse proxy for the S3 benchmarks: it sits
// between a client (cairn or restic) and a local MinIO, adds a fixed delay
// to every request on the way in and on the way out, caps the bandwidth in
// each direction, and counts requests by kind (GET, PUT, HEAD, LIST,
// DELETE, POST, OTHER) and the body bytes that pass.
//
// Why an HTTP proxy and not a TCP one (toxiproxy): the benchmark must say
// how many requests of each kind a step made, which only something that
// parses HTTP can tell; and a per-request delay models what matters for a
// far-away bucket (every request waits a round trip) without simulating
// TCP. Both programs under test go through the same proxy, so the numbers
// are comparable even though the model is simple.
//
// The proxy keeps the client's Host header, so AWS signatures made for the
// proxy's address stay valid at MinIO. Bodies pass unchanged (no
// compression is negotiated on the upstream side).
//
// Counts are read over HTTP from the proxy itself:
//
//	GET /_s3proxy/stats          {"GET":12,"PUT":3,...,"bytes_up":..,"bytes_down":..}
//	GET /_s3proxy/stats?reset=1  the same, and the counters start again at zero
//
// No S3 bucket can be called "_s3proxy" (bucket names start with a letter
// or digit), so the path never shadows a bucket.
//
// Usage:
//
//	s3proxy -listen 127.0.0.1:9100 -target http://127.0.0.1:9000 -latency 20ms -bandwidth 50000000
package main

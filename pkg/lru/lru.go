package lru

import (
	"container/list"
	"sync"
)

// LRU is a cache bounded by the summed cost of its values (bytes for
// blobs, an estimate for decoded trees). It is safe for concurrent use.
// A value costing more than the whole budget is not kept at all.
type LRU[K comparable, V any] struct {
	mu     sync.Mutex
	budget int64
	used   int64
	order  *list.List // front: most recently used
	items  map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key   K
	value V
	cost  int64
}

// New returns an empty cache that holds values costing budget in all.
func New[K comparable, V any](budget int64) *LRU[K, V] {
	return &LRU[K, V]{budget: budget, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value for key and marks it recently used.
func (c *LRU[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruItem[K, V]).value, true
}

// Add stores value under key, evicting the least recently used values
// until the budget holds.
func (c *LRU[K, V]) Add(key K, value V, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.used -= el.Value.(*lruItem[K, V]).cost
		c.order.Remove(el)
		delete(c.items, key)
	}
	if cost > c.budget {
		return
	}
	c.items[key] = c.order.PushFront(&lruItem[K, V]{key: key, value: value, cost: cost})
	c.used += cost
	for c.used > c.budget {
		el := c.order.Back()
		it := el.Value.(*lruItem[K, V])
		c.order.Remove(el)
		delete(c.items, it.key)
		c.used -= it.cost
	}
}

// Size returns the summed cost of the values held.
func (c *LRU[K, V]) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

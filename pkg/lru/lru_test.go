package lru

import "testing"

// The cache never holds more than its budget, evicts the least recently
// used first, keeps nothing costing more than the budget, and counts a
// value added again once.
func TestBudget(t *testing.T) {
	c := New[int, string](10)
	c.Add(1, "a", 4)
	c.Add(2, "b", 4)
	if _, ok := c.Get(1); !ok { // 1 is now the most recently used
		t.Fatal("1 evicted early")
	}
	c.Add(3, "c", 4) // over budget: 2 goes
	if _, ok := c.Get(2); ok {
		t.Error("least recently used value kept")
	}
	if v, ok := c.Get(1); !ok || v != "a" {
		t.Errorf("Get(1) = %q, %v", v, ok)
	}
	if got := c.Size(); got != 8 {
		t.Errorf("Size = %d, want 8", got)
	}
	c.Add(1, "a2", 6) // replaces, new cost: 6+4
	if got := c.Size(); got != 10 {
		t.Errorf("Size after re-add = %d, want 10", got)
	}
	c.Add(4, "huge", 11)
	if _, ok := c.Get(4); ok || c.Size() > 10 {
		t.Errorf("a value over the budget was kept (size %d)", c.Size())
	}
}

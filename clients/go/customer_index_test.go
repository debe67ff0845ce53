package billingclient

// The customer index alone: what a check reads after every kind of write,
// before and after the snapshot takes in what recent holds, and under
// concurrent readers (run with -race to check the lock-free reads).

import (
	"fmt"
	"sync"
	"testing"
)

func heldWithBits(bits uint64) *heldCustomer { return &heldCustomer{bits: bits} }

func TestCustomerIndexSeesEveryWriteAtOnce(t *testing.T) {
	index := newCustomerIndex()
	if index.load("a") != nil {
		t.Fatal("an empty index holds a")
	}
	index.hold("a", heldWithBits(1))
	if s := index.load("a"); s == nil || s.bits.Load() != 1 {
		t.Fatalf("a just held: %+v", s)
	}
	for range 2 { // enough misses (recent holds one slot) to take recent in
		index.load("nobody")
	}
	if index.snapshot.Load().stale {
		t.Fatal("the snapshot did not take in recent after as many misses as it holds")
	}
	index.hold("a", heldWithBits(2)) // a change, seen through the snapshot's slot
	if s := index.load("a"); s == nil || s.bits.Load() != 2 {
		t.Fatalf("a changed: %+v", s)
	}
	index.drop("a")
	if index.load("a") != nil {
		t.Fatal("a dropped but still held")
	}
	index.hold("b", heldWithBits(4)) // recent is copied now, without a's empty slot
	index.hold("a", heldWithBits(8)) // so a comes back in a new slot of recent
	for id, bits := range map[string]uint64{"a": 8, "b": 4} {
		if s := index.load(id); s == nil || s.bits.Load() != bits {
			t.Fatalf("%s after a drop and a copy: %+v", id, s)
		}
	}
}

func TestCustomerIndexUnderConcurrentReaders(t *testing.T) {
	index := newCustomerIndex()
	const customers = 200
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if s := index.load(fmt.Sprintf("c%d", n%customers)); s != nil && s.bits.Load() == 0 {
					t.Error("a held customer read with no bits")
					return
				}
			}
		}()
	}
	for round := range 20 {
		for n := range customers {
			index.hold(fmt.Sprintf("c%d", n), heldWithBits(uint64(round+1)))
		}
		for n := 0; n < customers; n += 3 {
			index.drop(fmt.Sprintf("c%d", n))
		}
	}
	close(stop)
	readers.Wait()
	for n := range customers {
		s := index.load(fmt.Sprintf("c%d", n))
		if (n%3 == 0) != (s == nil) || (s != nil && s.bits.Load() != 20) {
			t.Fatalf("c%d at the end: %+v", n, s)
		}
	}
}

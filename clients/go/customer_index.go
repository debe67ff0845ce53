package billingclient

import (
	"sync"
	"sync/atomic"
)

// customerIndex maps customer ids to their slots, for the hot path: read on
// every check from many goroutines, written only on fills, changes and
// evictions (under the evaluator's lock). A read takes no lock: it indexes
// an immutable snapshot map, and a slot's fields are atomics, so a change
// or an eviction of a customer already in the snapshot is seen at once.
// Only a customer added since the snapshot was taken is looked up in
// recent, under a lock, and once such misses have cost about as much as a
// copy, recent becomes the snapshot. (sync.Map's design before Go 1.24,
// typed: a sync.Map read cost three map lookups here, an RWMutex two.)
type customerIndex struct {
	snapshot atomic.Pointer[indexSnapshot]

	mu     sync.Mutex
	recent map[string]*customerSlot // nil, or the snapshot's live slots and every slot added since
	misses int
}

type indexSnapshot struct {
	slots map[string]*customerSlot
	// stale: recent holds slots this map lacks.
	stale bool
}

// customerSlot is what a check reads: the allowed-for-1 bits and the
// eviction mark beside the held set, in one small object.
type customerSlot struct {
	held atomic.Pointer[heldCustomer] // nil: not held
	bits atomic.Uint64
	used atomic.Bool
}

// markUsed sets the eviction mark; a load first, as an atomic store costs
// more than the whole rest of a check and the mark is almost always set.
func (s *customerSlot) markUsed() {
	if !s.used.Load() {
		s.used.Store(true)
	}
}

func newCustomerIndex() *customerIndex {
	index := &customerIndex{}
	index.snapshot.Store(&indexSnapshot{slots: map[string]*customerSlot{}})
	return index
}

// load is the hot path: the customer's slot, or nil when it is not held.
func (index *customerIndex) load(customerID string) *customerSlot {
	snapshot := index.snapshot.Load()
	if s := snapshot.slots[customerID]; s != nil && s.held.Load() != nil {
		return s
	}
	if !snapshot.stale {
		return nil
	}
	return index.loadRecent(customerID)
}

func (index *customerIndex) loadRecent(customerID string) *customerSlot {
	index.mu.Lock()
	defer index.mu.Unlock()
	slots := index.recent
	if slots == nil { // promoted meanwhile
		slots = index.snapshot.Load().slots
	} else if index.misses++; index.misses >= len(index.recent) {
		index.snapshot.Store(&indexSnapshot{slots: index.recent})
		index.recent, index.misses = nil, 0
	}
	if s := slots[customerID]; s != nil && s.held.Load() != nil {
		return s
	}
	return nil
}

// hold publishes h as the customer's set and returns its slot (kept while
// the customer stays held, so its eviction mark survives changes).
func (index *customerIndex) hold(customerID string, h *heldCustomer) *customerSlot {
	index.mu.Lock()
	defer index.mu.Unlock()
	s := index.slotLocked(customerID)
	if s == nil {
		s = index.addLocked(customerID)
	}
	s.bits.Store(h.bits)
	s.held.Store(h)
	return s
}

// drop marks the customer not held (its slot stays, empty, until a copy drops it).
func (index *customerIndex) drop(customerID string) {
	index.mu.Lock()
	defer index.mu.Unlock()
	if s := index.slotLocked(customerID); s != nil {
		s.held.Store(nil)
	}
}

// slotLocked is the customer's slot in the newest map: recent while it
// exists (a slot only the snapshot still has was dropped from it), else
// the snapshot.
func (index *customerIndex) slotLocked(customerID string) *customerSlot {
	if index.recent != nil {
		return index.recent[customerID]
	}
	return index.snapshot.Load().slots[customerID]
}

func (index *customerIndex) addLocked(customerID string) *customerSlot {
	snapshot := index.snapshot.Load()
	if index.recent == nil {
		index.recent = make(map[string]*customerSlot, len(snapshot.slots)+1)
		for id, s := range snapshot.slots {
			if s.held.Load() != nil { // empty slots are dropped here
				index.recent[id] = s
			}
		}
	}
	s := &customerSlot{}
	index.recent[customerID] = s
	if !snapshot.stale {
		index.snapshot.Store(&indexSnapshot{slots: snapshot.slots, stale: true})
	}
	return s
}

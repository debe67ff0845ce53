package billingclient

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
	"github.com/example/billing-entitlements-service/clients/go/gen/billing/v1/billingv1connect"
)

// UnreachablePolicy is what a customer not in the cache gets while the
// server cannot be reached.
type UnreachablePolicy int

const (
	// FailClosed answers not allowed (the default).
	FailClosed UnreachablePolicy = iota
	// FailOpen answers allowed.
	FailOpen
)

// AnswerSource says where an answer came from.
type AnswerSource string

const (
	FromMemory AnswerSource = "memory"
	FromServer AnswerSource = "server"
	FromPolicy AnswerSource = "policy"
)

// LocalConfig configures a LocalEvaluator.
type LocalConfig struct {
	// MaxCustomers held at most (default 10,000); one not used since the
	// eviction sweep last passed it goes first.
	MaxCustomers int
	Unreachable  UnreachablePolicy
	// ReconnectFirst and ReconnectMax bound the feed's backoff (default 100 ms, 5 s).
	ReconnectFirst, ReconnectMax time.Duration
}

// LocalAnswer is one check's answer.
type LocalAnswer struct {
	Allowed bool
	// Entitlement is the customer's entitlement of the feature; nil when it has none.
	Entitlement *billingv1.Entitlement
	// Version of the set answered from (0: none).
	Version uint64
	Source  AnswerSource
	// Staleness is how long the change feed has been down (0 while it is up).
	Staleness time.Duration
}

type heldCustomer struct {
	version  uint64
	features map[string]*billingv1.Entitlement
	bits     uint64
	slot     *customerSlot // the index's, which holds the eviction mark
	timer    *time.Timer
	order    *list.Element
}

// allowedFromSlot answers for an amount of 1: from the slot's bits, or for
// a feature past the 64 that have one (bit 0), from the entitlement itself
// (a held set is never changed, only replaced, so no lock is needed).
func allowedFromSlot(s *customerSlot, feature string, bit uint64) (allowed, held bool) {
	if s == nil {
		return false, false
	}
	s.markUsed()
	if bit != 0 {
		return s.bits.Load()&bit != 0, true
	}
	h := s.held.Load()
	if h == nil {
		return false, false
	}
	entitlement := h.features[feature]
	return entitlement != nil && covers(entitlement, 1), true
}

// pendingFill is one ListEntitlements of a customer, shared by the checks
// that missed it while it was in flight.
type pendingFill struct {
	latest *billingv1.WatchProjectChangesResponse // the newest feed change that came meanwhile
	done   chan struct{}                          // closed when it ended, with held and err set
	held   *heldCustomer
	err    error
	// waiters counts the checks waiting for it (read by the tests).
	waiters int
}

// LocalEvaluator answers checks inside your process: a bounded cache of
// customers, each fetched on first use (ListEntitlements) and kept current
// by the project's change feed (WatchProjectChanges, followed in a
// goroutine).
//
//   - A change on the server reaches the cache through the feed; versions
//     decide, so an older answer never replaces a newer one.
//   - A feature's valid_until passing turns it off here with no event (a
//     timer), and the customer is fetched again.
//   - The feed reconnects by itself with backoff and resumes where it left
//     off; on RESYNC or a catalog change every customer is dropped and
//     fetched again on use.
//   - While the server is unreachable, cached customers keep answering, with
//     Staleness saying for how long the feed has been down; a customer not in
//     the cache gets the Unreachable policy (closed, the default: not
//     allowed; open: allowed).
//
// It is safe for concurrent use. Close it when done.
type LocalEvaluator struct {
	entitlements billingv1connect.EntitlementsServiceClient
	config       LocalConfig

	mu        sync.RWMutex
	held      map[string]*heldCustomer
	order     *list.List // of customer ids, oldest first
	filling   map[string]*pendingFill
	listeners []func(customerID string)
	// The hot path's views, read with no lock, written under mu: held, and
	// the feature numbering (copied on write: features are few and rarely new).
	index       *customerIndex
	featureBits atomic.Pointer[map[string]uint64]

	position  string        // feed goroutine only
	downSince atomic.Int64  // unix nanoseconds; 0 while the feed is up
	ready     chan struct{} // closed once the feed is open
	readyOnce sync.Once
	cancel    context.CancelFunc
}

// NewLocalEvaluator starts following the change feed at once; checks work
// before it is open (see Ready).
func NewLocalEvaluator(entitlements billingv1connect.EntitlementsServiceClient, config LocalConfig) *LocalEvaluator {
	if config.MaxCustomers <= 0 {
		config.MaxCustomers = 10_000
	}
	if config.ReconnectFirst <= 0 {
		config.ReconnectFirst = 100 * time.Millisecond
	}
	if config.ReconnectMax <= 0 {
		config.ReconnectMax = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := newLocalEvaluator(entitlements, config)
	e.cancel = cancel
	e.downSince.Store(time.Now().UnixNano())
	go e.followFeed(ctx)
	return e
}

// newLocalEvaluator is the evaluator's state, with no feed followed yet.
func newLocalEvaluator(entitlements billingv1connect.EntitlementsServiceClient, config LocalConfig) *LocalEvaluator {
	e := &LocalEvaluator{
		entitlements: entitlements,
		config:       config,
		held:         map[string]*heldCustomer{},
		order:        list.New(),
		filling:      map[string]*pendingFill{},
		index:        newCustomerIndex(),
		ready:        make(chan struct{}),
		cancel:       func() {},
	}
	e.featureBits.Store(&map[string]uint64{})
	return e
}

// Ready is closed once the change feed is open the first time.
func (e *LocalEvaluator) Ready() <-chan struct{} { return e.ready }

// Close stops the feed and the timers.
func (e *LocalEvaluator) Close() {
	e.cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, h := range e.held {
		e.dropLocked(id, h)
	}
}

// OnChange registers a listener called (on the feed's goroutine) with a
// held customer's id when its set changes, or "" when all were dropped.
func (e *LocalEvaluator) OnChange(listener func(customerID string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listeners = append(e.listeners, listener)
}

// Staleness is how long the change feed has been down (0 while it is up).
func (e *LocalEvaluator) Staleness() time.Duration {
	since := e.downSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// Len is the number of customers held.
func (e *LocalEvaluator) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.held)
}

// IsAllowed answers from memory only, for an amount of 1: held is false
// when the customer is not in the cache (ask Check). In a hot loop over one
// feature, Feature(feature).IsAllowed costs one map lookup less.
func (e *LocalEvaluator) IsAllowed(customerID, feature string) (allowed, held bool) {
	return allowedFromSlot(e.index.load(customerID), feature, (*e.featureBits.Load())[feature])
}

// FeatureCheck is the check of one feature, to keep and call in a hot loop:
// its IsAllowed is one map lookup of the customer.
type FeatureCheck struct {
	index   *customerIndex
	feature string
	bit     uint64
}

// Feature numbers the feature (once per evaluator) and returns its check.
func (e *LocalEvaluator) Feature(feature string) FeatureCheck {
	e.mu.Lock()
	defer e.mu.Unlock()
	return FeatureCheck{index: e.index, feature: feature, bit: e.featureBitLocked(feature)}
}

// IsAllowed is LocalEvaluator.IsAllowed for the check's feature.
func (c FeatureCheck) IsAllowed(customerID string) (allowed, held bool) {
	return allowedFromSlot(c.index.load(customerID), c.feature, c.bit)
}

// Check answers for one feature, fetching the customer first when it is not held.
func (e *LocalEvaluator) Check(ctx context.Context, customerID, feature string, requested int64) (LocalAnswer, error) {
	var h *heldCustomer
	if s := e.index.load(customerID); s != nil {
		h = s.held.Load()
	}
	source := FromMemory
	if h == nil {
		var err error
		if h, err = e.fill(ctx, customerID); err != nil {
			return LocalAnswer{}, err
		}
		source = FromServer
	}
	if h == nil {
		return LocalAnswer{Allowed: e.config.Unreachable == FailOpen, Source: FromPolicy, Staleness: e.Staleness()}, nil
	}
	h.slot.markUsed()
	entitlement := h.features[feature]
	return LocalAnswer{
		Allowed:     entitlement != nil && covers(entitlement, requested),
		Entitlement: entitlement,
		Version:     h.version,
		Source:      source,
		Staleness:   e.Staleness(),
	}, nil
}

func covers(e *billingv1.Entitlement, requested int64) bool {
	return e.GetAllowed() && (e.Balance == nil || e.GetBalance() >= requested)
}

// fill fetches a customer; nil, nil when the server is unreachable.
// fill fetches the customer, or waits for the fetch another check started
// and shares its outcome (a refusal too; a cancellation of the other
// check's own context is not shared: the wait starts over).
func (e *LocalEvaluator) fill(ctx context.Context, customerID string) (*heldCustomer, error) {
	for {
		e.mu.Lock()
		pending := e.filling[customerID]
		if pending == nil {
			pending = &pendingFill{done: make(chan struct{})}
			e.filling[customerID] = pending
			e.mu.Unlock()
			pending.held, pending.err = e.fetch(ctx, customerID, pending)
			close(pending.done)
			return pending.held, pending.err
		}
		pending.waiters++
		e.mu.Unlock()
		select {
		case <-pending.done:
		case <-ctx.Done():
			return nil, unreachableOrError(ctx.Err())
		}
		if !errors.Is(pending.err, context.Canceled) || ctx.Err() != nil {
			return pending.held, pending.err
		}
	}
}

// unreachableOrError is nil for the errors that mean "the service cannot be
// reached" (the caller answers by policy), else err.
func unreachableOrError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if code := connect.CodeOf(err); code == connect.CodeUnavailable || code == connect.CodeDeadlineExceeded {
		return nil
	}
	return err
}

func (e *LocalEvaluator) fetch(ctx context.Context, customerID string, pending *pendingFill) (*heldCustomer, error) {
	answer, err := e.entitlements.ListEntitlements(ctx, connect.NewRequest(&billingv1.ListEntitlementsRequest{CustomerId: customerID}))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.filling[customerID] == pending {
		delete(e.filling, customerID)
	}
	if err != nil {
		return nil, unreachableOrError(err)
	}
	version, entitlements := answer.Msg.GetVersion(), answer.Msg.GetEntitlements()
	if latest := pending.latest; latest != nil && latest.GetVersion() > version {
		version, entitlements = latest.GetVersion(), latest.GetEntitlements()
	}
	return e.holdLocked(customerID, version, entitlements), nil
}

func (e *LocalEvaluator) holdLocked(customerID string, version uint64, entitlements []*billingv1.Entitlement) *heldCustomer {
	if before := e.held[customerID]; before != nil {
		before.release(e.order) // replaced below: the index never shows it missing
	} else if len(e.held) >= e.config.MaxCustomers {
		e.evictOneLocked()
	}
	h := &heldCustomer{version: version, features: make(map[string]*billingv1.Entitlement, len(entitlements))}
	earliest := time.Time{}
	for _, entitlement := range entitlements {
		h.features[entitlement.GetFeature()] = entitlement
		if covers(entitlement, 1) {
			h.bits |= e.featureBitLocked(entitlement.GetFeature())
		}
		if until := entitlement.GetValidUntil(); until != nil && (earliest.IsZero() || until.AsTime().Before(earliest)) {
			earliest = until.AsTime()
		}
	}
	h.order = e.order.PushBack(customerID)
	if !earliest.IsZero() {
		h.timer = time.AfterFunc(time.Until(earliest), func() { e.expire(customerID, h) })
	}
	e.held[customerID] = h
	h.slot = e.index.hold(customerID, h)
	h.slot.used.Store(true)
	return h
}

// featureBitLocked numbers features as they are seen, for good (a
// FeatureCheck keeps its bit); past 64 a feature has none (0) and is
// answered from its entitlement.
func (e *LocalEvaluator) featureBitLocked(feature string) uint64 {
	numbered := *e.featureBits.Load()
	bit, ok := numbered[feature]
	if !ok && len(numbered) < 64 {
		bit = 1 << len(numbered)
		renumbered := make(map[string]uint64, len(numbered)+1)
		for f, b := range numbered {
			renumbered[f] = b
		}
		renumbered[feature] = bit
		e.featureBits.Store(&renumbered)
	}
	return bit
}

func (e *LocalEvaluator) evictOneLocked() {
	for range e.order.Len() {
		front := e.order.Front()
		id, _ := front.Value.(string)
		h := e.held[id]
		if h == nil || !h.slot.used.Swap(false) {
			break
		}
		e.order.MoveToBack(front)
	}
	if front := e.order.Front(); front != nil {
		id, _ := front.Value.(string)
		if h := e.held[id]; h != nil {
			e.dropLocked(id, h)
		}
	}
}

func (e *LocalEvaluator) dropLocked(customerID string, h *heldCustomer) {
	h.release(e.order)
	delete(e.held, customerID)
	e.index.drop(customerID)
}

// release stops the customer's expiry timer and takes it out of the eviction order.
func (h *heldCustomer) release(order *list.List) {
	if h.timer != nil {
		h.timer.Stop()
	}
	order.Remove(h.order)
}

func (e *LocalEvaluator) expire(customerID string, h *heldCustomer) {
	e.mu.Lock()
	if e.held[customerID] != h {
		e.mu.Unlock()
		return
	}
	now := time.Now()
	var left []*billingv1.Entitlement
	for _, entitlement := range h.features {
		if until := entitlement.GetValidUntil(); until == nil || until.AsTime().After(now) {
			left = append(left, entitlement)
		}
	}
	e.holdLocked(customerID, h.version, left)
	e.mu.Unlock()
	e.tell(customerID)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if held, err := e.fill(ctx, customerID); err == nil && held != nil {
			e.tell(customerID)
		}
	}()
}

func (e *LocalEvaluator) tell(customerID string) {
	e.mu.RLock()
	listeners := append([]func(string){}, e.listeners...)
	e.mu.RUnlock()
	for _, listener := range listeners {
		listener(customerID)
	}
}

func (e *LocalEvaluator) dropAll() {
	e.mu.Lock()
	for id, h := range e.held {
		e.dropLocked(id, h)
	}
	for _, pending := range e.filling {
		pending.latest = nil
	}
	e.mu.Unlock()
	e.tell("")
}

func (e *LocalEvaluator) followFeed(ctx context.Context) {
	wait := e.config.ReconnectFirst
	for ctx.Err() == nil {
		stream, err := e.entitlements.WatchProjectChanges(ctx, connect.NewRequest(&billingv1.WatchProjectChangesRequest{ResumeAfter: e.position}))
		if err == nil {
			for stream.Receive() {
				e.apply(stream.Msg())
				wait = e.config.ReconnectFirst
			}
			_ = stream.Close()
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return
		}
		e.downSince.CompareAndSwap(0, time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(e.config.ReconnectMax, wait*2)
	}
}

func (e *LocalEvaluator) apply(message *billingv1.WatchProjectChangesResponse) {
	switch message.GetKind() {
	case billingv1.ProjectChangeKind_PROJECT_CHANGE_KIND_READY:
		if e.position == "" {
			e.dropAll() // opened fresh: what is held may predate the feed
		}
		e.opened(message.GetPosition())
		return
	case billingv1.ProjectChangeKind_PROJECT_CHANGE_KIND_RESYNC:
		e.dropAll()
		e.opened(message.GetPosition())
		return
	case billingv1.ProjectChangeKind_PROJECT_CHANGE_KIND_PROJECT:
		e.dropAll()
	case billingv1.ProjectChangeKind_PROJECT_CHANGE_KIND_CUSTOMER:
		e.customerChanged(message)
	}
	e.position = message.GetPosition()
}

func (e *LocalEvaluator) opened(position string) {
	e.position = position
	e.downSince.Store(0)
	e.readyOnce.Do(func() { close(e.ready) })
}

func (e *LocalEvaluator) customerChanged(message *billingv1.WatchProjectChangesResponse) {
	id := message.GetCustomerId()
	e.mu.Lock()
	if pending := e.filling[id]; pending != nil && (pending.latest == nil || pending.latest.GetVersion() < message.GetVersion()) {
		pending.latest = message
	}
	h := e.held[id]
	if h == nil || h.version >= message.GetVersion() {
		e.mu.Unlock()
		return
	}
	used := h.slot.used.Load()
	e.holdLocked(id, message.GetVersion(), message.GetEntitlements()).slot.used.Store(used)
	e.mu.Unlock()
	e.tell(id)
}

package billingclient

// Checks that miss a customer together share one ListEntitlements, its
// answer and its refusal alike: the evaluator's state with a stand-in of the
// entitlements client and no feed.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
	"github.com/example/billing-entitlements-service/clients/go/gen/billing/v1/billingv1connect"
)

// fillStandIn answers ListEntitlements once gate is closed, counting the
// calls; refuse answers PERMISSION_DENIED instead. Any other method panics.
type fillStandIn struct {
	billingv1connect.EntitlementsServiceClient
	gate   chan struct{}
	fills  atomic.Int32
	refuse bool
}

func (s *fillStandIn) ListEntitlements(context.Context, *connect.Request[billingv1.ListEntitlementsRequest]) (*connect.Response[billingv1.ListEntitlementsResponse], error) {
	s.fills.Add(1)
	<-s.gate
	if s.refuse {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("refused"))
	}
	return connect.NewResponse(&billingv1.ListEntitlementsResponse{
		Version:      1,
		Entitlements: []*billingv1.Entitlement{{Feature: "reports", Allowed: true}},
	}), nil
}

// missTogether runs n checks of customer "a", opens the stand-in's gate once
// one fetches and the other n-1 wait for that fetch, and returns what each got.
func missTogether(t *testing.T, service *fillStandIn, n int) ([]LocalAnswer, []error) {
	t.Helper()
	evaluator := newLocalEvaluator(service, LocalConfig{MaxCustomers: 10})
	answers, errs := make([]LocalAnswer, n), make([]error, n)
	var checks sync.WaitGroup
	for i := range n {
		checks.Add(1)
		go func() {
			defer checks.Done()
			answers[i], errs[i] = evaluator.Check(context.Background(), "a", "reports", 1)
		}()
	}
	// Until the others wait, or one of them fetched too (the test then fails on fills).
	for waiting := 0; waiting < n-1 && service.fills.Load() <= 1; runtime.Gosched() {
		evaluator.mu.Lock()
		if pending := evaluator.filling["a"]; pending != nil {
			waiting = pending.waiters
		}
		evaluator.mu.Unlock()
	}
	close(service.gate)
	checks.Wait()
	return answers, errs
}

func TestLocalEvaluatorChecksThatMissTogetherShareOneFetch(t *testing.T) {
	service := &fillStandIn{gate: make(chan struct{})}
	answers, errs := missTogether(t, service, 4)
	for i := range answers {
		if errs[i] != nil || !answers[i].Allowed || answers[i].Source != FromServer {
			t.Fatalf("check %d: %+v, %v", i, answers[i], errs[i])
		}
	}
	if fills := service.fills.Load(); fills != 1 {
		t.Fatalf("%d fetches for checks that missed together", fills)
	}
}

func TestLocalEvaluatorARefusedFetchIsRefusedToEveryCheckThatWaited(t *testing.T) {
	service := &fillStandIn{gate: make(chan struct{}), refuse: true}
	_, errs := missTogether(t, service, 3)
	for i, err := range errs {
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if fills := service.fills.Load(); fills != 1 {
		t.Fatalf("%d fetches for checks that missed together", fills)
	}
}

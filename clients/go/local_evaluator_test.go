package billingclient_test

// The local evaluator against a live service (the same environment as
// smoke_test.go): a customer is fetched on its first check, then answered
// from memory; a grant made on the server reaches it through the change
// feed; a grant's expiry turns it off with no event.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingclient "github.com/example/billing-entitlements-service/clients/go"
	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
)

func localEvaluator(t *testing.T) (*billingclient.Client, *billingclient.LocalEvaluator) {
	t.Helper()
	server := live(t)
	client := billingclient.New(billingclient.Config{BaseURL: server.url, APIKey: server.adminKey, Protocol: billingclient.ProtocolGRPC})
	evaluator := billingclient.NewLocalEvaluator(client.Entitlements, billingclient.LocalConfig{ReconnectFirst: 50 * time.Millisecond})
	t.Cleanup(evaluator.Close)
	select {
	case <-evaluator.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the change feed did not open")
	}
	return client, evaluator
}

// until is closed once a change of customerID makes condition true.
func until(evaluator *billingclient.LocalEvaluator, customerID string, condition func() bool) <-chan struct{} {
	reached := make(chan struct{})
	done := false
	evaluator.OnChange(func(changed string) {
		if !done && (changed == customerID || changed == "") && condition() {
			done = true
			close(reached)
		}
	})
	return reached
}

func grant(t *testing.T, client *billingclient.Client, customerID, feature string, expires time.Time) {
	t.Helper()
	request := &billingv1.GrantEntitlementRequest{CustomerId: customerID, Feature: feature, Reason: "Go local evaluator test"}
	if !expires.IsZero() {
		request.ExpiresAt = timestamppb.New(expires)
	}
	if _, err := client.Admin.GrantEntitlement(context.Background(), connect.NewRequest(request)); err != nil {
		t.Fatal(err)
	}
}

func TestLocalEvaluatorFollowsAGrant(t *testing.T) {
	client, evaluator := localEvaluator(t)
	ctx := context.Background()
	customer := fmt.Sprintf("go-local-%d", time.Now().UnixNano())
	first, err := evaluator.Check(ctx, customer, "reports", 1)
	if err != nil || first.Allowed || first.Source != billingclient.FromServer {
		t.Fatalf("first check: %+v, %v", first, err)
	}
	if allowed, held := evaluator.IsAllowed(customer, "reports"); allowed || !held {
		t.Fatalf("held after the first check: allowed %v, held %v", allowed, held)
	}
	reached := until(evaluator, customer, func() bool { allowed, _ := evaluator.IsAllowed(customer, "reports"); return allowed })
	grant(t, client, customer, "reports", time.Time{})
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the grant did not reach the local cache")
	}
	after, err := evaluator.Check(ctx, customer, "reports", 1)
	if err != nil || !after.Allowed || after.Source != billingclient.FromMemory || after.Version <= first.Version {
		t.Fatalf("after the grant: %+v (first version %d), %v", after, first.Version, err)
	}
}

func TestLocalEvaluatorExpiresAGrantWithNoEvent(t *testing.T) {
	client, evaluator := localEvaluator(t)
	customer := fmt.Sprintf("go-expiry-%d", time.Now().UnixNano())
	// Far enough ahead for the grant and the first check to come first on a
	// loaded machine; whole milliseconds, as the service stores times.
	expires := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	grant(t, client, customer, "trial", expires)
	if answer, err := evaluator.Check(context.Background(), customer, "trial", 1); err != nil || !answer.Allowed {
		t.Fatalf("before the expiry: %+v, %v", answer, err)
	}
	ended := until(evaluator, customer, func() bool { allowed, _ := evaluator.IsAllowed(customer, "trial"); return !allowed })
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the expiry did not turn the feature off")
	}
	if time.Now().Before(expires) {
		t.Fatal("turned off before the grant expired")
	}
}

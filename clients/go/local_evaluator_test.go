package billingclient_test

// The local evaluator against a live service (the same environment as
// smoke_test.go): a customer is fetched on its first check, then answered
// from memory; a grant and a Stripe webhook on the server reach it through
// the change feed; a grant's expiry turns it off with no event; it answers
// through a restart of the service and follows changes again after it.
//
// The webhook and the restart are made through BILLING_CONTROL_URL, the
// test run's control endpoint (test/helpers/client-control.ts in the
// service repository).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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
	return openEvaluator(t, server.url, server.adminKey, billingclient.FailClosed)
}

func openEvaluator(t *testing.T, url, apiKey string, unreachable billingclient.UnreachablePolicy) (*billingclient.Client, *billingclient.LocalEvaluator) {
	t.Helper()
	client := billingclient.New(billingclient.Config{BaseURL: url, APIKey: apiKey, Protocol: billingclient.ProtocolGRPC})
	evaluator := billingclient.NewLocalEvaluator(client.Entitlements, billingclient.LocalConfig{
		ReconnectFirst: 50 * time.Millisecond,
		ReconnectMax:   500 * time.Millisecond,
		Unreachable:    unreachable,
	})
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

// control asks the test run's control endpoint for something only the
// service's side can do, and decodes its JSON answer into answer (if not nil).
func control(t *testing.T, path string, body, answer any) {
	t.Helper()
	base := os.Getenv("BILLING_CONTROL_URL")
	if base == "" {
		t.Skip("BILLING_CONTROL_URL is not set: no control endpoint for webhooks and restarts")
	}
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	response, err := http.Post(base+path, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		t.Fatalf("control %s answered %s", path, response.Status)
	}
	if answer != nil {
		if err := json.NewDecoder(response.Body).Decode(answer); err != nil {
			t.Fatal(err)
		}
	}
}

// within fails the test unless reached is closed within 20 s.
func within(t *testing.T, reached <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal(what)
	}
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
	within(t, reached, "the grant did not reach the local cache")
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
	within(t, ended, "the expiry did not turn the feature off")
	if time.Now().Before(expires) {
		t.Fatal("turned off before the grant expired")
	}
}

func TestLocalEvaluatorFollowsAWebhook(t *testing.T) {
	_, evaluator := localEvaluator(t)
	ctx := context.Background()
	customer := fmt.Sprintf("go-webhook-%d", time.Now().UnixNano())
	first, err := evaluator.Check(ctx, customer, "reports", 1)
	if err != nil || first.Allowed || first.Source != billingclient.FromServer {
		t.Fatalf("first check: %+v, %v", first, err)
	}
	reached := until(evaluator, customer, func() bool { allowed, _ := evaluator.IsAllowed(customer, "reports"); return allowed })
	control(t, "/webhooks/subscription", map[string]string{"customer_id": customer}, nil)
	within(t, reached, "the subscription's webhook did not reach the local cache")
	after, err := evaluator.Check(ctx, customer, "reports", 1)
	if err != nil || !after.Allowed || after.Source != billingclient.FromMemory || after.Version <= first.Version {
		t.Fatalf("after the webhook: %+v (first version %d), %v", after, first.Version, err)
	}
	if allowed, held := evaluator.Feature("reports").IsAllowed(customer); !allowed || !held {
		t.Fatalf("the hot path after the webhook: allowed %v, held %v", allowed, held)
	}
}

func TestLocalEvaluatorSurvivesARestart(t *testing.T) {
	var service struct {
		URL    string `json:"url"`
		APIKey string `json:"api_key"`
	}
	control(t, "/restartable/start", nil, &service)
	t.Cleanup(func() { control(t, "/restartable/stop", nil, nil) })
	client, evaluator := openEvaluator(t, service.URL, service.APIKey, billingclient.FailOpen)
	ctx := context.Background()
	customer := "go-restart"
	grant(t, client, customer, "a", time.Time{})
	if answer, err := evaluator.Check(ctx, customer, "a", 1); err != nil || !answer.Allowed || answer.Source != billingclient.FromServer {
		t.Fatalf("before the stop: %+v, %v", answer, err)
	}

	control(t, "/restartable/stop", nil, nil)
	if held, err := evaluator.Check(ctx, customer, "a", 1); err != nil || !held.Allowed || held.Source != billingclient.FromMemory {
		t.Fatalf("a held customer while the service is down: %+v, %v", held, err)
	}
	if unknown, err := evaluator.Check(ctx, "go-never-seen", "a", 1); err != nil || !unknown.Allowed || unknown.Source != billingclient.FromPolicy {
		t.Fatalf("an unknown customer while the service is down (FailOpen): %+v, %v", unknown, err)
	}

	control(t, "/restartable/start", nil, &service)
	reached := until(evaluator, customer, func() bool { allowed, _ := evaluator.IsAllowed(customer, "b"); return allowed })
	grant(t, client, customer, "b", time.Time{})
	within(t, reached, "after the restart, a grant did not reach the local cache")
	if staleness := evaluator.Staleness(); staleness != 0 {
		t.Fatalf("the feed is back but staleness is %v", staleness)
	}
}

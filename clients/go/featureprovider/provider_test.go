package featureprovider_test

// The provider over a live service (the environment of the client's
// smoke_test.go): booleans, ints and objects, our flag metadata, and a
// configuration-changed event when a held customer changes.

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/open-feature/go-sdk/openfeature"

	billingclient "github.com/example/billing-entitlements-service/clients/go"
	"github.com/example/billing-entitlements-service/clients/go/featureprovider"
	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
)

func TestProviderAnswersFromTheLocalEvaluator(t *testing.T) {
	url, key := os.Getenv("BILLING_URL"), os.Getenv("BILLING_API_KEY")
	if url == "" || key == "" {
		t.Skip("BILLING_URL and BILLING_API_KEY are not both set: no live server to test against")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := billingclient.New(billingclient.Config{BaseURL: url, APIKey: key, Protocol: billingclient.ProtocolGRPC})
	customer := fmt.Sprintf("go-of-%d", time.Now().UnixNano())
	grant := func(feature string, limit *int64) {
		request := &billingv1.GrantEntitlementRequest{CustomerId: customer, Feature: feature, Limit: limit, Reason: "Go provider test"}
		if _, err := client.Admin.GrantEntitlement(ctx, connect.NewRequest(request)); err != nil {
			t.Fatal(err)
		}
	}
	seven := int64(7)
	grant("seats", &seven)

	local := billingclient.NewLocalEvaluator(client.Entitlements, billingclient.LocalConfig{})
	defer local.Close()
	if err := openfeature.SetNamedProviderAndWait("billing-local", featureprovider.New(local)); err != nil {
		t.Fatal(err)
	}
	flags := openfeature.NewClient("billing-local")
	evalCtx := openfeature.NewEvaluationContext(customer, nil)

	first, err := flags.BooleanValueDetails(ctx, "seats", false, evalCtx)
	if err != nil || !first.Value || first.Reason != openfeature.TargetingMatchReason || first.FlagMetadata["limit"] != int64(7) {
		t.Fatalf("first: %+v, %v", first, err)
	}
	if again, _ := flags.BooleanValueDetails(ctx, "seats", false, evalCtx); again.Reason != openfeature.CachedReason {
		t.Fatalf("again: %+v", again)
	}
	if seats, err := flags.IntValue(ctx, "seats", -1, evalCtx); err != nil || seats != 7 {
		t.Fatalf("seats: %d, %v", seats, err)
	}
	if whole, err := flags.ObjectValue(ctx, "seats", nil, evalCtx); err != nil || whole.(*billingv1.Entitlement).GetFeature() != "seats" {
		t.Fatalf("object: %v, %v", whole, err)
	}
	if none, _ := flags.IntValue(ctx, "reports", -1, evalCtx); none != 0 {
		t.Fatalf("not allowed: %d", none)
	}
	if _, err := flags.StringValue(ctx, "seats", "", evalCtx); err == nil {
		t.Fatal("a string flag must be a type mismatch")
	}
	if missing, _ := flags.BooleanValueDetails(ctx, "seats", true, openfeature.NewTargetlessEvaluationContext(nil)); missing.ErrorCode != openfeature.TargetingKeyMissingCode {
		t.Fatalf("no targeting key: %+v", missing)
	}

	changed := make(chan struct{}, 1)
	callback := func(details openfeature.EventDetails) {
		if details.EventMetadata["customerId"] == customer {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	flags.AddHandler(openfeature.ProviderConfigChange, &callback)
	grant("reports", nil)
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no configuration-changed event for the grant")
	}
	if allowed, _ := flags.BooleanValue(ctx, "reports", false, evalCtx); !allowed {
		t.Fatal("the grant did not reach the provider")
	}
}

package billingclient_test

// Smoke test against a live service, once per protocol: check an
// entitlement, receive the change that our own admin grant causes on a
// WatchEntitlements stream, and get PERMISSION_DENIED calling an admin RPC
// with a key that lacks the admin scope.
//
// The service repository's `npm test` starts a server and runs this with
// (test/clients/go.test.ts):
//
//	BILLING_URL            the service, e.g. http://127.0.0.1:8080
//	BILLING_API_KEY        a key with the admin scope
//	BILLING_READ_ONLY_KEY  a key with only entitlements:read
//
// Without them every test is skipped.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"connectrpc.com/connect"

	billingclient "github.com/example/billing-entitlements-service/clients/go"
	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
)

type liveServer struct {
	url, adminKey, readOnlyKey string
}

func live(t *testing.T) liveServer {
	t.Helper()
	server := liveServer{
		url:         os.Getenv("BILLING_URL"),
		adminKey:    os.Getenv("BILLING_API_KEY"),
		readOnlyKey: os.Getenv("BILLING_READ_ONLY_KEY"),
	}
	if server.url == "" || server.adminKey == "" || server.readOnlyKey == "" {
		t.Skip("BILLING_URL, BILLING_API_KEY and BILLING_READ_ONLY_KEY are not all set: no live server to test against")
	}
	return server
}

var protocols = map[string]billingclient.Protocol{
	"connect":  billingclient.ProtocolConnect,
	"grpc":     billingclient.ProtocolGRPC,
	"grpc-web": billingclient.ProtocolGRPCWeb,
}

func TestSmoke(t *testing.T) {
	server := live(t)
	for name, protocol := range protocols {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := billingclient.New(billingclient.Config{
				BaseURL:  server.url,
				APIKey:   server.adminKey,
				Protocol: protocol,
			})
			customer := fmt.Sprintf("go-smoke-%s-%d", name, time.Now().UnixNano())

			check, err := client.Entitlements.CheckEntitlement(ctx, connect.NewRequest(
				&billingv1.CheckEntitlementRequest{CustomerId: customer, Feature: "smoke"},
			))
			if err != nil {
				t.Fatalf("CheckEntitlement: %v", err)
			}
			if check.Msg.GetEntitlement().GetAllowed() {
				t.Fatalf("a new customer already has the feature: %v", check.Msg)
			}

			stream, err := client.Entitlements.WatchEntitlements(ctx, connect.NewRequest(
				&billingv1.WatchEntitlementsRequest{CustomerId: customer},
			))
			if err != nil {
				t.Fatalf("WatchEntitlements: %v", err)
			}
			defer stream.Close()
			if first := nextNonHeartbeat(t, stream); first.GetKind() != billingv1.WatchEventKind_WATCH_EVENT_KIND_SNAPSHOT {
				t.Fatalf("first message is %v, want a snapshot", first.GetKind())
			}

			_, err = client.Admin.GrantEntitlement(ctx, connect.NewRequest(&billingv1.GrantEntitlementRequest{
				CustomerId: customer,
				Feature:    "smoke",
				Reason:     "Go client smoke test",
			}))
			if err != nil {
				t.Fatalf("GrantEntitlement: %v", err)
			}
			change := nextNonHeartbeat(t, stream)
			if change.GetKind() != billingv1.WatchEventKind_WATCH_EVENT_KIND_CHANGE {
				t.Fatalf("after the grant got %v, want a change", change.GetKind())
			}
			if len(change.GetEntitlements()) != 1 || change.GetEntitlements()[0].GetFeature() != "smoke" ||
				!change.GetEntitlements()[0].GetAllowed() {
				t.Fatalf("the change does not hold the granted feature: %v", change)
			}

			readOnly := billingclient.New(billingclient.Config{
				BaseURL:  server.url,
				APIKey:   server.readOnlyKey,
				Protocol: protocol,
			})
			_, err = readOnly.Admin.GrantEntitlement(ctx, connect.NewRequest(&billingv1.GrantEntitlementRequest{
				CustomerId: customer,
				Feature:    "smoke",
				Reason:     "must be refused",
			}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("GrantEntitlement with a read-only key: got %v, want permission_denied", err)
			}
			var connectErr *connect.Error
			if !errors.As(err, &connectErr) || connectErr.Message() == "" {
				t.Fatalf("the refusal has no message: %v", err)
			}
		})
	}
}

func nextNonHeartbeat(
	t *testing.T,
	stream *connect.ServerStreamForClient[billingv1.WatchEntitlementsResponse],
) *billingv1.WatchEntitlementsResponse {
	t.Helper()
	for stream.Receive() {
		if message := stream.Msg(); message.GetKind() != billingv1.WatchEventKind_WATCH_EVENT_KIND_HEARTBEAT {
			return message
		}
	}
	t.Fatalf("the stream ended: %v", stream.Err())
	return nil
}

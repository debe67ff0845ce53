// Package billingclient is a typed client for the Billing & Entitlements
// service: the generated Connect clients of every billing.v1 service, over
// Connect, gRPC or gRPC-Web, sending an API key with every call.
//
// Generated code lives in gen/ (never edit it; regenerate with
// `npm run generate` in the service repository). This file and
// local_evaluator.go (checks answered in your process) are the hand-written
// parts.
package billingclient

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/example/billing-entitlements-service/clients/go/gen/billing/v1/billingv1connect"
)

// Protocol is the wire protocol the client speaks. The service serves all
// three on one port.
type Protocol int

const (
	// ProtocolConnect is Connect over HTTP/1.1 (or HTTP/2 with TLS).
	ProtocolConnect Protocol = iota
	// ProtocolGRPC is gRPC over HTTP/2 (cleartext HTTP/2 for http:// URLs).
	ProtocolGRPC
	// ProtocolGRPCWeb is gRPC-Web over HTTP/1.1 (or HTTP/2 with TLS).
	ProtocolGRPCWeb
)

// Config says where the service is and how to call it.
type Config struct {
	// BaseURL is the service's root, e.g. "http://billing.internal:8080".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>" on every call.
	APIKey string
	// Protocol defaults to ProtocolConnect.
	Protocol Protocol
	// HTTPClient replaces the default one (which suits Protocol).
	HTTPClient connect.HTTPClient
	// Options are passed to every generated client (interceptors, ...).
	Options []connect.ClientOption
}

// Client holds one client per service.
type Client struct {
	Entitlements billingv1connect.EntitlementsServiceClient
	Checkout     billingv1connect.CheckoutServiceClient
	Admin        billingv1connect.AdminServiceClient
	Metrics      billingv1connect.MetricsServiceClient
}

// New returns a Client. It does not connect: the first call does.
func New(config Config) *Client {
	httpClient := config.HTTPClient
	if httpClient == nil {
		httpClient = defaultHTTPClient(config.Protocol)
	}
	options := []connect.ClientOption{connect.WithInterceptors(bearerToken(config.APIKey))}
	switch config.Protocol {
	case ProtocolGRPC:
		options = append(options, connect.WithGRPC())
	case ProtocolGRPCWeb:
		options = append(options, connect.WithGRPCWeb())
	}
	options = append(options, config.Options...)
	return &Client{
		Entitlements: billingv1connect.NewEntitlementsServiceClient(httpClient, config.BaseURL, options...),
		Checkout:     billingv1connect.NewCheckoutServiceClient(httpClient, config.BaseURL, options...),
		Admin:        billingv1connect.NewAdminServiceClient(httpClient, config.BaseURL, options...),
		Metrics:      billingv1connect.NewMetricsServiceClient(httpClient, config.BaseURL, options...),
	}
}

// defaultHTTPClient speaks HTTP/2 only for gRPC (which needs it), cleartext
// for http:// URLs; the other protocols use Go's defaults.
func defaultHTTPClient(protocol Protocol) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if protocol == ProtocolGRPC {
		protocols := new(http.Protocols)
		protocols.SetHTTP2(true)
		protocols.SetUnencryptedHTTP2(true)
		transport.Protocols = protocols
	}
	return &http.Client{Transport: transport}
}

// bearerToken adds the API key to unary calls and to streams.
type bearerToken string

func (key bearerToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, request connect.AnyRequest) (connect.AnyResponse, error) {
		request.Header().Set("Authorization", "Bearer "+string(key))
		return next(ctx, request)
	}
}

func (key bearerToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(key))
		return conn
	}
}

func (bearerToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

module github.com/example/billing-entitlements-service/clients/go

go 1.24.0

require (
	connectrpc.com/connect v1.19.2
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/go-logr/logr v1.4.3 // indirect
	github.com/open-feature/go-sdk v1.17.0
	go.uber.org/mock v0.6.0 // indirect
)

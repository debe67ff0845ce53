// The grpc-go reference for benchmarks: grpc.health.v1.Health/Check, always
// SERVING, on one core (GOMAXPROCS=1 by default, as the service gets one).
// An empty RPC on grpc-go is the machine's limit for a gRPC server.
package main

import (
	"encoding/json"
	"net"
	"os"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "0"
	}
	lis, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	server := grpc.NewServer()
	healthpb.RegisterHealthServer(server, health.NewServer()) // "" is SERVING
	line, _ := json.Marshal(map[string]any{"msg": "listening", "port": lis.Addr().(*net.TCPAddr).Port})
	os.Stdout.Write(append(line, '\n'))
	if err := server.Serve(lis); err != nil {
		panic(err)
	}
}

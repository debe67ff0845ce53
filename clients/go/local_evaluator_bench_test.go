package billingclient

// What a local check costs against a map lookup in the same process (issue
// 15: at most 2 x): `npm run bench:local` in the service repository runs
//
//	go test -run '^$' -bench 'LocalCheck|MapLookup'
//
// and reports the ratios of IsAllowed(customer, feature) and of the hot
// loop's Feature(feature).IsAllowed(customer). The evaluator holds 10,000
// customers with five features each; every benchmark looks up customers in
// the same random order.

import (
	"fmt"
	"math/rand/v2"
	"testing"

	billingv1 "github.com/example/billing-entitlements-service/clients/go/gen/billing/v1"
)

const benchCustomers = 10_000

func benchIDs() []string {
	ids := make([]string, benchCustomers)
	for n := range ids {
		ids[n] = fmt.Sprintf("customer-%d", n)
	}
	order := make([]string, 1<<16)
	random := rand.New(rand.NewPCG(1, 2))
	for i := range order {
		order[i] = ids[random.IntN(benchCustomers)]
	}
	return order
}

func BenchmarkMapLookup(b *testing.B) {
	order := benchIDs()
	reference := make(map[string]bool, benchCustomers)
	for n := range benchCustomers {
		reference[fmt.Sprintf("customer-%d", n)] = true
	}
	b.ResetTimer()
	hits := 0
	for i := range b.N {
		if reference[order[i&(len(order)-1)]] {
			hits++
		}
	}
	if hits != b.N {
		b.Fatal("a lookup missed")
	}
}

func BenchmarkLocalCheck(b *testing.B) {
	order := benchIDs()
	evaluator := newLocalEvaluator(nil, LocalConfig{MaxCustomers: benchCustomers})
	features := []string{"reports", "seats", "api", "export", "sso"}
	entitlements := make([]*billingv1.Entitlement, len(features))
	for i, feature := range features {
		entitlements[i] = &billingv1.Entitlement{Feature: feature, Allowed: true}
	}
	for n := range benchCustomers {
		evaluator.holdLocked(fmt.Sprintf("customer-%d", n), 1, entitlements)
	}
	b.Run("IsAllowed", func(b *testing.B) {
		hits := 0
		for i := range b.N {
			if allowed, _ := evaluator.IsAllowed(order[i&(len(order)-1)], "reports"); allowed {
				hits++
			}
		}
		if hits != b.N {
			b.Fatal("a lookup missed")
		}
	})
	b.Run("Feature", func(b *testing.B) {
		reports := evaluator.Feature("reports")
		hits := 0
		for i := range b.N {
			if allowed, _ := reports.IsAllowed(order[i&(len(order)-1)]); allowed {
				hits++
			}
		}
		if hits != b.N {
			b.Fatal("a lookup missed")
		}
	})
}

// Package featureprovider is an OpenFeature provider
// (github.com/open-feature/go-sdk) over the billing client's LocalEvaluator:
// features are flags, answered in your process.
//
//   - boolean: allowed;
//   - int and float: the balance of a metered feature, else the limit (0
//     when not allowed; unlimited: your default, with "unlimited" in the
//     flag metadata);
//   - object: the whole entitlement (*billingv1.Entitlement);
//   - string: TYPE_MISMATCH.
//
// The targeting key is the customer id. Flag metadata carries "allowed",
// "limit", "balance", "usage", "sources", the set's "version" and
// "staleness_ms". The reason is CACHED from memory, TARGETING_MATCH when
// just fetched, STALE for the unreachable policy's answer. A change of a
// held customer emits PROVIDER_CONFIGURATION_CHANGED with the customer id
// in the event's metadata.
package featureprovider

import (
	"context"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"

	billingclient "github.com/example/billing-entitlements-service/clients/go"
)

// StaleReason marks an answer given by the unreachable policy.
const StaleReason openfeature.Reason = "STALE"

// Provider is safe for concurrent use.
type Provider struct {
	evaluator *billingclient.LocalEvaluator
	events    chan openfeature.Event
}

// New returns a provider over evaluator; its change events start at once.
func New(evaluator *billingclient.LocalEvaluator) *Provider {
	p := &Provider{evaluator: evaluator, events: make(chan openfeature.Event, 64)}
	evaluator.OnChange(func(customerID string) {
		event := openfeature.Event{
			ProviderName: p.Metadata().Name,
			EventType:    openfeature.ProviderConfigChange,
			ProviderEventDetails: openfeature.ProviderEventDetails{
				EventMetadata: map[string]any{"customerId": customerID},
			},
		}
		select {
		case p.events <- event:
		default: // nobody reads fast enough: a change event is a hint, the answers stay right
		}
	})
	return p
}

func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "billing-entitlements"}
}

func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel carries PROVIDER_CONFIGURATION_CHANGED per change of a held customer.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// Init waits for the change feed to open (or the context handed by the SDK to end).
func (p *Provider) Init(openfeature.EvaluationContext) error {
	<-p.evaluator.Ready()
	return nil
}

func (p *Provider) Shutdown() {}

func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flatCtx openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	answer, detail := p.answer(ctx, flag, flatCtx)
	if failed(detail) {
		return openfeature.BoolResolutionDetail{Value: defaultValue, ProviderResolutionDetail: detail}
	}
	return openfeature.BoolResolutionDetail{Value: answer.Allowed, ProviderResolutionDetail: detail}
}

func (p *Provider) StringEvaluation(_ context.Context, _ string, defaultValue string, _ openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return openfeature.StringResolutionDetail{
		Value: defaultValue,
		ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			ResolutionError: openfeature.NewTypeMismatchResolutionError("entitlements are booleans, numbers or objects, never strings"),
			Reason:          openfeature.ErrorReason,
		},
	}
}

func (p *Provider) IntEvaluation(ctx context.Context, flag string, defaultValue int64, flatCtx openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	answer, detail := p.answer(ctx, flag, flatCtx)
	value := defaultValue
	if figure, ok := figureOf(answer); ok && !failed(detail) {
		value = figure
	}
	return openfeature.IntResolutionDetail{Value: value, ProviderResolutionDetail: detail}
}

func (p *Provider) FloatEvaluation(ctx context.Context, flag string, defaultValue float64, flatCtx openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	answer, detail := p.answer(ctx, flag, flatCtx)
	value := defaultValue
	if figure, ok := figureOf(answer); ok && !failed(detail) {
		value = float64(figure)
	}
	return openfeature.FloatResolutionDetail{Value: value, ProviderResolutionDetail: detail}
}

func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, defaultValue any, flatCtx openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	answer, detail := p.answer(ctx, flag, flatCtx)
	value := defaultValue
	if answer.Entitlement != nil && !failed(detail) {
		value = answer.Entitlement
	}
	return openfeature.InterfaceResolutionDetail{Value: value, ProviderResolutionDetail: detail}
}

func (p *Provider) answer(ctx context.Context, feature string, flatCtx openfeature.FlattenedContext) (billingclient.LocalAnswer, openfeature.ProviderResolutionDetail) {
	customerID, _ := flatCtx[openfeature.TargetingKey].(string)
	if customerID == "" {
		return billingclient.LocalAnswer{}, openfeature.ProviderResolutionDetail{
			ResolutionError: openfeature.NewTargetingKeyMissingResolutionError("the targeting key is the customer id"),
			Reason:          openfeature.ErrorReason,
		}
	}
	answer, err := p.evaluator.Check(ctx, customerID, feature, 1)
	if err != nil {
		return answer, openfeature.ProviderResolutionDetail{
			ResolutionError: openfeature.NewGeneralResolutionError(err.Error()),
			Reason:          openfeature.ErrorReason,
		}
	}
	reason := openfeature.TargetingMatchReason
	switch answer.Source {
	case billingclient.FromMemory:
		reason = openfeature.CachedReason
	case billingclient.FromPolicy:
		reason = StaleReason
	}
	variant := "denied"
	if answer.Allowed {
		variant = "allowed"
	}
	return answer, openfeature.ProviderResolutionDetail{Reason: reason, Variant: variant, FlagMetadata: metadataOf(answer)}
}

// failed: the detail carries a resolution error, so the caller's default answers.
func failed(detail openfeature.ProviderResolutionDetail) bool {
	return detail.Reason == openfeature.ErrorReason
}

// figureOf is the balance of a metered feature, else the limit; false: unlimited.
func figureOf(answer billingclient.LocalAnswer) (int64, bool) {
	if !answer.Allowed {
		return 0, true
	}
	e := answer.Entitlement
	if e == nil {
		return 0, false
	}
	if e.Usage != nil {
		return e.GetBalance(), e.Balance != nil
	}
	return e.GetLimit(), e.Limit != nil
}

func metadataOf(answer billingclient.LocalAnswer) openfeature.FlagMetadata {
	metadata := openfeature.FlagMetadata{
		"allowed":      answer.Allowed,
		"version":      int64(answer.Version),
		"staleness_ms": answer.Staleness.Milliseconds(),
	}
	if answer.Source == billingclient.FromPolicy {
		metadata["unreachable"] = true
	}
	e := answer.Entitlement
	if e == nil {
		return metadata
	}
	if e.Limit != nil {
		metadata["limit"] = e.GetLimit()
	}
	if e.Balance != nil {
		metadata["balance"] = e.GetBalance()
	}
	if e.Usage != nil {
		metadata["usage"] = e.GetUsage()
	}
	if _, ok := figureOf(answer); !ok {
		metadata["unlimited"] = true
	}
	if len(e.GetSources()) > 0 {
		ids := make([]string, len(e.GetSources()))
		for i, source := range e.GetSources() {
			ids[i] = source.GetId()
		}
		metadata["sources"] = strings.Join(ids, ",")
	}
	return metadata
}

package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/stream"
)

// JetStream API error codes this package maps (nats-server
// jetstream_errors_generated.go).
const (
	codeInsufficientResources jetstream.ErrorCode = 10023 // JSInsufficientResourcesErr
	codeMemoryExceeded        jetstream.ErrorCode = 10028 // JSMemoryResourcesExceededErr
	codeStorageExceeded       jetstream.ErrorCode = 10047 // JSStorageResourcesExceededErr
	codeStoreFailed           jetstream.ErrorCode = 10077 // JSStreamStoreFailedF: "{err}" from the store
)

func apiError(err error) *jetstream.APIError {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// mapPublishErr turns a publish failure into the stream package's errors,
// keeping the original error in the chain.
func mapPublishErr(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		// Nothing listens on the subject: the stream does not exist.
		return fmt.Errorf("%w: %w", stream.ErrNoStream, err)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: no ack in time: %w", stream.ErrBackpressure, err)
	case errors.Is(err, nats.ErrSlowConsumer):
		return fmt.Errorf("%w: %w", stream.ErrBackpressure, err)
	}
	if ae := apiError(err); ae != nil {
		switch ae.ErrorCode {
		case jetstream.JSErrCodeStreamNotFound:
			return fmt.Errorf("%w: %w", stream.ErrNoStream, err)
		case jetstream.JSErrCodeStreamMessageExceedsMaximum:
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		case codeInsufficientResources, codeMemoryExceeded, codeStorageExceeded:
			return fmt.Errorf("%w: %w", stream.ErrBackpressure, err)
		case codeStoreFailed:
			// The store's own error text: "maximum bytes exceeded",
			// "maximum messages exceeded", "maximum messages per subject
			// exceeded" (limits with DiscardNew), "message size exceeds
			// maximum allowed".
			d := strings.ToLower(ae.Description)
			switch {
			case strings.Contains(d, "size exceeds"), strings.Contains(d, "too large"):
				return fmt.Errorf("%w: %w", ErrTooLarge, err)
			case strings.Contains(d, "maximum"), strings.Contains(d, "exceeded"), strings.Contains(d, "resources"):
				return fmt.Errorf("%w: %w", stream.ErrBackpressure, err)
			}
		}
	}
	return err
}

// mapStreamErr maps errors of stream management and direct reads.
func mapStreamErr(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: %w", stream.ErrNoStream, err)
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("%w: %w", stream.ErrNoMessage, err)
	}
	if ae := apiError(err); ae != nil {
		switch ae.ErrorCode {
		case jetstream.JSErrCodeStreamNotFound:
			return fmt.Errorf("%w: %w", stream.ErrNoStream, err)
		case jetstream.JSErrCodeMessageNotFound:
			return fmt.Errorf("%w: %w", stream.ErrNoMessage, err)
		}
	}
	return err
}

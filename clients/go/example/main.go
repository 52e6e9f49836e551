// A use of the generated Go code: build a CreatePaymentRequest, and decode the
// google.rpc.Status that paycore sends with every error (the
// grpc-status-details-bin trailer) into ErrorInfo, BadRequest and RetryInfo.
//
//	go run ./example                 prints a CreatePaymentRequest as JSON
//	go run ./example <status hex>    prints what the encoded status says
//
// grpc-go's status.FromError(err).Proto() hands you the same Status; this
// program takes its bytes as hex so that it needs no server.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	paycorev1 "paycore/gen/go/paycore/v1"
)

// newCardPayment is a manual-capture card payment of 25.99 EUR.
func newCardPayment(requestID string) *paycorev1.CreatePaymentRequest {
	return &paycorev1.CreatePaymentRequest{
		RequestId: requestID,
		Amount:    &money.Money{CurrencyCode: "EUR", Units: 25, Nanos: 990_000_000},
		PaymentMethod: &paycorev1.PaymentMethodData{
			Kind: &paycorev1.PaymentMethodData_Card{
				Card: &paycorev1.CardData{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2099},
			},
		},
		CaptureMethod: paycorev1.CaptureMethod_CAPTURE_METHOD_MANUAL,
	}
}

type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// paycoreError is what a client needs from a paycore error.
type paycoreError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Reason is ErrorInfo.reason, e.g. "VALIDATION_FAILED".
	Reason string `json:"reason"`
	// ReasonEnum is the same reason as the generated enum; nil for a reason newer than this client.
	ReasonEnum      *paycorev1.ErrorReason `json:"reasonEnum,omitempty"`
	FieldViolations []fieldViolation       `json:"fieldViolations"`
	RetryAfterMs    *float64               `json:"retryAfterMs,omitempty"`
}

// reasonEnum maps ErrorInfo.reason to the enum: the value's name is ERROR_REASON_ + reason.
func reasonEnum(reason string) *paycorev1.ErrorReason {
	number, ok := paycorev1.ErrorReason_value["ERROR_REASON_"+reason]
	if !ok {
		return nil
	}
	value := paycorev1.ErrorReason(number)
	return &value
}

func decodeStatus(encoded []byte) (*paycoreError, error) {
	var st status.Status
	if err := proto.Unmarshal(encoded, &st); err != nil {
		return nil, err
	}
	result := &paycoreError{
		Code:            code.Code(st.GetCode()).String(),
		Message:         st.GetMessage(),
		FieldViolations: []fieldViolation{},
	}
	for _, detail := range st.GetDetails() {
		message, err := detail.UnmarshalNew()
		if err != nil {
			continue // a detail type newer than this client: skipped, never an error
		}
		switch d := message.(type) {
		case *errdetails.ErrorInfo:
			result.Reason = d.GetReason()
			result.ReasonEnum = reasonEnum(d.GetReason())
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				result.FieldViolations = append(result.FieldViolations, fieldViolation{v.GetField(), v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			ms := float64(d.GetRetryDelay().AsDuration().Microseconds()) / 1000
			result.RetryAfterMs = &ms
		}
	}
	return result, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println(protojson.Format(newCardPayment("order-1042")))
		return
	}
	encoded, err := hex.DecodeString(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	decoded, err := decodeStatus(encoded)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(decoded)
	fmt.Println(string(out))
}

// A strict-typed use of the generated code: build a CreatePaymentRequest, and
// decode the google.rpc.Status that paycore sends with every error (the
// `grpc-status-details-bin` trailer) into ErrorInfo, BadRequest and RetryInfo.
//
//   node dist/example.js                 prints a CreatePaymentRequest as JSON
//   node dist/example.js <status hex>    prints what the encoded status says
//
// Any gRPC library for Node hands you the trailer's bytes; this program takes
// them as hex so that it needs no server.

import { create, fromBinary, toJsonString } from "@bufbuild/protobuf";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";

import { type CreatePaymentRequest, CreatePaymentRequestSchema } from "./gen/paycore/v1/payment_service_pb.js";
import { CaptureMethod } from "./gen/paycore/v1/payment_pb.js";
import { ErrorReason } from "./gen/paycore/v1/error_reason_pb.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "./gen/google/rpc/status_pb.js";
import { Code } from "./gen/google/rpc/code_pb.js";

/** A manual-capture card payment of 25.99 EUR (money is google.type.Money: units + nanos). */
export function newCardPayment(requestId: string): CreatePaymentRequest {
  return create(CreatePaymentRequestSchema, {
    requestId,
    amount: { currencyCode: "EUR", units: 25n, nanos: 990_000_000 },
    paymentMethod: {
      kind: { case: "card", value: { number: "4242424242424242", expMonth: 12, expYear: 2099 } },
    },
    captureMethod: CaptureMethod.MANUAL,
  });
}

/** What a client needs from a paycore error: the reason to switch on, and what to fix. */
export interface PaycoreError {
  code: string;
  message: string;
  /** ErrorInfo.reason, e.g. "VALIDATION_FAILED". */
  reason: string;
  /** The same reason as the generated enum; undefined for a reason newer than this client. */
  reasonEnum: ErrorReason | undefined;
  fieldViolations: { field: string; description: string }[];
  retryAfterMs: number | undefined;
}

/** ErrorInfo.reason is the ErrorReason value's name without ERROR_REASON_ (the generated enum drops the prefix too). */
export function reasonEnum(reason: string): ErrorReason | undefined {
  const value: unknown = (ErrorReason as Record<string, unknown>)[reason];
  return typeof value === "number" ? (value as ErrorReason) : undefined;
}

/** Decode a `grpc-status-details-bin` trailer. */
export function decodeStatus(bytes: Uint8Array): PaycoreError {
  const status = fromBinary(StatusSchema, bytes);
  const error: PaycoreError = {
    code: Code[status.code] ?? String(status.code),
    message: status.message,
    reason: "",
    reasonEnum: undefined,
    fieldViolations: [],
    retryAfterMs: undefined,
  };
  for (const any of status.details) {
    // Details of other types (QuotaFailure, and any added later) are skipped, never an error.
    const info = anyIs(any, ErrorInfoSchema) ? anyUnpack(any, ErrorInfoSchema) : undefined;
    if (info !== undefined) {
      error.reason = info.reason;
      error.reasonEnum = reasonEnum(info.reason);
    }
    const badRequest = anyIs(any, BadRequestSchema) ? anyUnpack(any, BadRequestSchema) : undefined;
    if (badRequest !== undefined) {
      error.fieldViolations = badRequest.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
    }
    const retry = anyIs(any, RetryInfoSchema) ? anyUnpack(any, RetryInfoSchema) : undefined;
    if (retry?.retryDelay !== undefined) {
      error.retryAfterMs = Number(retry.retryDelay.seconds) * 1000 + retry.retryDelay.nanos / 1e6;
    }
  }
  return error;
}

function hexToBytes(hex: string): Uint8Array {
  const pairs = hex.match(/../g) ?? [];
  return Uint8Array.from(pairs.map((pair) => parseInt(pair, 16)));
}

const statusHex = process.argv[2];
if (statusHex === undefined) {
  console.log(toJsonString(CreatePaymentRequestSchema, newCardPayment("order-1042")));
} else {
  console.log(JSON.stringify(decodeStatus(hexToBytes(statusHex))));
}

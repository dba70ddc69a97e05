#!/usr/bin/env node
// A Node.js client of healthcardd: Debit with an idempotency key, then the retry a client that lost the answer
// makes (the daemon answers from its journal without touching the card). Shows that the API is usable beyond
// Python: the .proto files are loaded at run time with @grpc/proto-loader, the calls go through @grpc/grpc-js.
//
//   node debit.js [--target 127.0.0.1:50051] [--reader virtual-0] [--amount 100] [--request-id ID] [--json]
//                 [--deadline-ms 30000] [--retries 10]
//
// Money is integer fen. int64 fields arrive as decimal strings (longs: String) and are computed with BigInt,
// never with JavaScript numbers (doubles). Errors print the gRPC status and the daemon's machine-readable
// reason (trailing metadata "healthcard-error-reason"); the exit code is 2 for a failed call.
//
// A Debit whose outcome is unknown is never reported as failed: reason TRANSACTION_IN_DOUBT (the card may have
// been charged), or no reason at all (deadline exceeded, connection lost: the answer did not come from the
// daemon). The client retries with the same request_id, which never charges twice, until the final answer;
// without one after --retries it prints "in doubt" and exits with 3 (docs/daemon.md, "Errors").
"use strict";

const path = require("path");
const crypto = require("crypto");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");

function parseArgs(argv) {
  const args = {
    target: "127.0.0.1:50051", reader: "virtual-0", amount: "100", requestId: "", json: false,
    deadlineMs: 30000, retries: 10,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
      return argv[++i];
    };
    if (name === "--target") args.target = value();
    else if (name === "--reader") args.reader = value();
    else if (name === "--amount") args.amount = value();
    else if (name === "--request-id") args.requestId = value();
    else if (name === "--json") args.json = true;
    else if (name === "--deadline-ms") args.deadlineMs = Number(value());
    else if (name === "--retries") args.retries = Number(value());
    else throw new Error(`unknown option ${name}`);
  }
  if (!/^-?\d+$/.test(args.amount)) throw new Error("--amount: an integer number of fen");
  args.requestId = args.requestId || `node-${crypto.randomUUID()}`;
  return args;
}

function loadService() {
  const definition = protoLoader.loadSync("healthcard/v1/healthcard_service.proto", {
    includeDirs: [PROTOS],
    keepCase: true, // field names exactly as in the .proto (amount_fen, request_id ...)
    longs: String, // int64 as decimal strings: no precision loss for money
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).healthcard.v1.HealthCardService;
}

function call(client, method, request, deadlineMs = 30000) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

function reasonOf(error) {
  return error.metadata ? error.metadata.get("healthcard-error-reason")[0] || "" : "";
}

// True when a Debit/Load error does not say the card was left unchanged: the daemon's TRANSACTION_IN_DOUBT, or
// an error without the daemon's reason (deadline, connection lost), after which the request may have run.
function inDoubt(error) {
  const reason = reasonOf(error);
  return reason === "TRANSACTION_IN_DOUBT" || reason === "";
}

class PaymentInDoubt extends Error {
  constructor(requestId, last) {
    super(`payment ${requestId} is in doubt: the card may have been charged; retry with the same request_id`);
    this.requestId = requestId;
    this.last = last;
  }
}

// Debit/Load until a final answer: the reply, or the failure (the card was not changed). While in doubt, retry
// with the same request (same request_id): the daemon answers from its journal or asks the card.
async function settle(client, method, request, args, log) {
  let last = null;
  for (let attempt = 0; attempt <= args.retries; attempt++) {
    try {
      return await call(client, method, request, args.deadlineMs);
    } catch (error) {
      if (!inDoubt(error)) throw error;
      last = error;
      log(`pending (${grpc.status[error.code] || error.code}): retrying ${request.request_id} (${attempt + 1}/${args.retries})`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  throw new PaymentInDoubt(request.request_id, last);
}

function yuan(fen) {
  const value = BigInt(fen);
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  return `${sign}¥${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const HealthCardService = loadService();
  const client = new HealthCardService(args.target, grpc.credentials.createInsecure());
  try {
    const before = await call(client, "GetBalance", { reader: args.reader });
    const request = {
      reader: args.reader,
      amount_fen: args.amount, // int64 as a string
      request_id: args.requestId,
      merchant_id: "NODE-DEMO",
      order_id: args.requestId,
      operator_id: "node-client",
    };
    const log = (line) => (args.json ? console.error(line) : console.log(line));
    const paid = await settle(client, "Debit", request, args, log);
    const again = await settle(client, "Debit", request, args, log); // the retry of a client that lost the answer
    const result = {
      card_number: paid.card_number,
      balance_before_fen: before.balance_fen,
      amount_fen: args.amount,
      balance_fen: paid.balance_fen,
      terminal_id: paid.terminal_id,
      terminal_serial: paid.terminal_serial,
      tac: paid.tac,
      transaction_id: paid.transaction_id,
      replayed_first: paid.replayed,
      replayed_retry: again.replayed,
      retry_same_tac: again.tac === paid.tac && again.transaction_id === paid.transaction_id,
      balance_consistent: BigInt(before.balance_fen) - BigInt(args.amount) === BigInt(paid.balance_fen),
    };
    if (args.json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(`card ${paid.card_number}: paid ${yuan(args.amount)}, balance ${yuan(before.balance_fen)} -> ${yuan(paid.balance_fen)}`);
      console.log(`terminal ${paid.terminal_id} serial ${paid.terminal_serial} TAC ${paid.tac}`);
      console.log(`retry with the same request id: ${again.replayed ? "replayed from the journal" : "DEBITED AGAIN"}`);
    }
    return result.retry_same_tac && again.replayed && result.balance_consistent ? 0 : 1;
  } catch (error) {
    if (error instanceof PaymentInDoubt) {
      const code = error.last ? grpc.status[error.last.code] || String(error.last.code) : "";
      if (args.json) {
        console.log(JSON.stringify({ in_doubt: { request_id: error.requestId, code, message: error.message } }));
      } else {
        console.error(`in doubt: ${error.message}; do not charge again [${code}]`);
      }
      return 3;
    }
    const reason = reasonOf(error);
    const code = grpc.status[error.code] || String(error.code);
    if (args.json) {
      console.log(JSON.stringify({ error: { code, reason, message: error.details || String(error) } }));
    } else {
      console.error(`failed: ${error.details || error} [${code}${reason ? " / " + reason : ""}]`);
    }
    return 2;
  } finally {
    client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(String(error));
    process.exit(2);
  },
);

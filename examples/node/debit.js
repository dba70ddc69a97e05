#!/usr/bin/env node
// A Node.js client of healthcardd: Debit with an idempotency key, then the retry a client that lost the answer
// makes (the daemon answers from its journal without touching the card). Shows that the API is usable beyond
// Python: the .proto files are loaded at run time with @grpc/proto-loader, the calls go through @grpc/grpc-js.
//
//   node debit.js [--target 127.0.0.1:50051] [--reader virtual-0] [--amount 100] [--request-id ID] [--json]
//
// Money is integer fen. int64 fields arrive as decimal strings (longs: String) and are computed with BigInt,
// never with JavaScript numbers (doubles). Errors print the gRPC status and the daemon's machine-readable
// reason (trailing metadata "healthcard-error-reason"); the exit code is 2 for a failed call.
"use strict";

const path = require("path");
const crypto = require("crypto");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");

function parseArgs(argv) {
  const args = { target: "127.0.0.1:50051", reader: "virtual-0", amount: "100", requestId: "", json: false };
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

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 30000 }, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
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
    const paid = await call(client, "Debit", request);
    const again = await call(client, "Debit", request); // the retry of a client that lost the answer
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
    const reason = error.metadata ? error.metadata.get("healthcard-error-reason")[0] || "" : "";
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

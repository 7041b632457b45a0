// npm_interop.mjs - the npm side of the safetensors interop test.
//
//   node npm_interop.mjs dump PATH_OR_DIR   the canonical JSON of
//                                           `stref.py dump` (byte-identical)
//   node npm_interop.mjs write FILE         a sample file, see below
//
// The reader is Hugging Face's own JavaScript one: parseSafetensorsMetadata
// of @huggingface/hub (pinned in package.json / package-lock.json), which
// parses model.safetensors or model.safetensors.index.json plus its shards
// and validates each tensor entry.  It fetches from the Hub with HTTP range
// requests; localFetch() below answers them from the local directory, so
// nothing leaves the machine.  It parses headers only: the sha256 of each
// tensor is taken from the file at the data_offsets the package returned.
//
// The writer: no npm package that writes safetensors was found (the npm
// "safetensors" 0.0.1 only reads, without any validation, and throws on a
// header with __metadata__; @huggingface/hub only reads).  So `write` uses
// the few lines of writeSafetensors() here: a third implementation, in
// another language, that deliberately differs from stref.py's layout
// (tensors in insertion order, "data_offsets" before "dtype", metadata
// last), which a reader must accept all the same.

import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync,
	writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseSafetensorsMetadata } from "@huggingface/hub";

const HUB = "http://local.invalid";
const REPO = "local/model";

// A fetch for the Hub URLs the package builds
// (HUB/REPO/{resolve,raw}/main/PATH), served from root with range support.
function localFetch(root) {
	return async (url, init = {}) => {
		const m = new URL(url).pathname.match(/^\/local\/model\/(?:resolve|raw)\/main\/(.+)$/);
		const file = m ? join(root, decodeURIComponent(m[1])) : null;
		if (!file || !existsSync(file)) {
			return new Response(null, { status: 404, headers: { "X-Error-Code": "EntryNotFound" } });
		}
		const size = statSync(file).size;
		const headers = { ETag: '"local"', "Content-Type": "application/octet-stream" };
		if ((init.method ?? "GET") === "HEAD") {
			return new Response(null, { status: 200, headers: { ...headers, "Content-Length": String(size) } });
		}
		const range = new Headers(init.headers).get("Range");
		const r = range && range.match(/^bytes=(\d+)-(\d*)$/);
		if (!r) {
			return new Response(readFileSync(file), { status: 200, headers });
		}
		const start = Number(r[1]);
		const end = Math.min(r[2] === "" ? size - 1 : Number(r[2]), size - 1);
		if (start >= size) {
			return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${size}` } });
		}
		return new Response(readRange(file, start, end + 1), {
			status: 206,
			headers: { ...headers, "Content-Range": `bytes ${start}-${end}/${size}` },
		});
	};
}

function readRange(file, start, end) {
	const buf = Buffer.alloc(end - start);
	const fd = openSync(file, "r");
	try {
		let done = 0;
		while (done < buf.length) {
			const n = readSync(fd, buf, done, buf.length - done, start + done);
			if (n === 0) throw new Error(`${file}: short read`);
			done += n;
		}
	} finally {
		closeSync(fd);
	}
	return buf;
}

// Code point order, as Python sorts strings (UTF-8 byte order is the same).
const byCodePoint = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function dump(target) {
	const isDir = statSync(target).isDirectory();
	const root = isDir ? target : dirname(target);
	const params = { repo: REPO, hubUrl: HUB, fetch: localFetch(root) };
	if (!isDir) params.path = basename(target);
	const parsed = await parseSafetensorsMetadata(params);
	const headers = parsed.sharded ? parsed.headers : { [parsed.filepaths?.[0] ?? basename(target)]: parsed.header };
	const metadata = {};
	const tensors = [];
	for (const file of Object.keys(headers).sort(byCodePoint)) {
		const header = headers[file];
		const path = join(root, file);
		const n = Number(readRange(path, 0, 8).readBigUInt64LE(0));
		for (const [key, value] of Object.entries(header.__metadata__ ?? {})) {
			if (!(key in metadata)) metadata[key] = value;
		}
		for (const [name, info] of Object.entries(header)) {
			if (name === "__metadata__") continue;
			const [begin, end] = info.data_offsets;
			const bytes = readRange(path, 8 + n + begin, 8 + n + end);
			tensors.push({
				name,
				dtype: info.dtype,
				shape: info.shape,
				sha256: createHash("sha256").update(bytes).digest("hex"),
			});
		}
	}
	tensors.sort((a, b) => byCodePoint(a.name, b.name));
	const sortedMeta = Object.fromEntries(Object.entries(metadata).sort((a, b) => byCodePoint(a[0], b[0])));
	process.stdout.write(JSON.stringify({ metadata: sortedMeta, tensors }, null, 1) + "\n");
}

function writeSafetensors(file, tensors, metadata) {
	const header = {};
	let offset = 0;
	for (const [name, t] of Object.entries(tensors)) {
		header[name] = { data_offsets: [offset, offset + t.bytes.length], dtype: t.dtype, shape: t.shape };
		offset += t.bytes.length;
	}
	if (metadata) header.__metadata__ = metadata;
	let json = Buffer.from(JSON.stringify(header));
	json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
	const len = Buffer.alloc(8);
	len.writeBigUInt64LE(BigInt(json.length));
	writeFileSync(file, Buffer.concat([len, json, ...Object.values(tensors).map((t) => t.bytes)]));
}

// Deterministic values from typed arrays (little-endian on every platform
// Node runs on here; checked below).
function sample() {
	const f32 = Float32Array.from({ length: 24 }, (_, i) => (i - 12) / 8);
	const f64 = Float64Array.from({ length: 10 }, (_, i) => Math.PI * (i - 5));
	const i64 = BigInt64Array.from({ length: 6 }, (_, i) => BigInt(i) * -1234567890123n);
	const u16 = Uint16Array.from({ length: 9 }, (_, i) => i * 7919);
	const bf16 = Uint16Array.from(f32.slice(0, 8), (x) => new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16);
	const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
	return {
		"js.f32": { dtype: "F32", shape: [4, 6], bytes: bytes(f32) },
		"js.f64.scalar": { dtype: "F64", shape: [], bytes: bytes(f64.subarray(3, 4)) },
		"js.f64": { dtype: "F64", shape: [10], bytes: bytes(f64) },
		"js.i64": { dtype: "I64", shape: [2, 3], bytes: bytes(i64) },
		"js.u16": { dtype: "U16", shape: [3, 3], bytes: bytes(u16) },
		"js.bf16": { dtype: "BF16", shape: [8], bytes: bytes(bf16) },
		"js.i32.empty": { dtype: "I32", shape: [0, 4], bytes: Buffer.alloc(0) },
		"js.u8": { dtype: "U8", shape: [5], bytes: Buffer.from([0, 1, 127, 128, 255]) },
		"js.bool": { dtype: "BOOL", shape: [4], bytes: Buffer.from([1, 0, 0, 1]) },
		"js.f8_e4m3": { dtype: "F8_E4M3", shape: [4], bytes: Buffer.from([0x38, 0xb8, 0x7e, 0x00]) },
	};
}

const [cmd, target] = process.argv.slice(2);
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error("big-endian host");
try {
	if (cmd === "dump" && target) {
		await dump(target);
	} else if (cmd === "write" && target) {
		writeSafetensors(target, sample(), { writer: "npm_interop.mjs" });
	} else {
		process.stderr.write("usage: node npm_interop.mjs dump PATH_OR_DIR | write FILE\n");
		process.exit(2);
	}
} catch (e) {
	process.stderr.write(`npm_interop.mjs: ${target}: ${e.message}\n`);
	process.exit(1);
}

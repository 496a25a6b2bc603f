// check_tokenizer.mjs: encodes and decodes text with the JavaScript reference tokenizers
// (@huggingface/tokenizers, the tokenizer of transformers.js, and @lenml/tokenizers) and renders
// the chat template, so check_tokenizer.py can compare them with the Python encoder.
// Usage: node check_tokenizer.mjs MODEL_DIR LINES.json  (LINES.json: a JSON array of strings)
// Prints one JSON object: {hf: [[ids]...], lenml: [[ids]...], hf_decoded: [...], chat: "..."}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, linesFile] = process.argv.slice(2);
const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
const lines = JSON.parse(readFileSync(linesFile, "utf8"));

const hf = new Tokenizer(structuredClone(tj), structuredClone(tc));
const lenml = TokenizerLoader.fromPreTrained({ tokenizerJSON: structuredClone(tj), tokenizerConfig: structuredClone(tc) });

const out = { hf: [], lenml: [], hf_decoded: [], lenml_decoded: [] };
for (const s of lines) {
  const a = hf.encode(s).ids;
  const b = Array.from(lenml.encode(s));
  out.hf.push(a);
  out.lenml.push(b);
  out.hf_decoded.push(hf.decode(a, { skip_special_tokens: true }));
  out.lenml_decoded.push(lenml.decode(b, { skip_special_tokens: true }));
}
const messages = [
  { role: "user", content: "Who made the heaven and the earth?" },
  { role: "assistant", content: "God created the heaven and the earth." },
  { role: "user", content: " And then? " },
];
out.chat = lenml.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
out.chat_ids = Array.from(lenml.apply_chat_template(messages, { tokenize: true, add_generation_prompt: true }));
console.log(JSON.stringify(out));

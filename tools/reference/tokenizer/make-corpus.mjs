// make-corpus.mjs: writes tests/data/tokenizer/corpus.jsonl, the strings every tokenizer golden
// file is made from. Deterministic (fixed PRNG seed), so re-running gives the same file.
import { writeFileSync } from "node:fs";

let seed = 0x2545f491;
function rnd() { // xorshift32
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const out = [];
const add = (s) => out.push(s);

// Prose in many scripts.
const prose = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello, world! How are you doing today? I'm fine, thanks; we'll see.",
  "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
  "Don't, can't, won't, shouldn't've, y'all'd've, O'Neill's rock'n'roll.",
  "Der schnelle braune Fuchs springt über den faulen Hund. Größenordnung, Straße, Äpfel.",
  "Le cœur a ses raisons que la raison ne connaît point. À bientôt, garçon!",
  "El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío, añoraba a su querido cachorro. ¿Qué tal? ¡Hola!",
  "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Καλημέρα κόσμε!",
  "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق.",
  "דג סקרן שט בים מאוכזב ולפתע מצא חברה.",
  "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम।",
  "আমি বাংলায় গান গাই। এটা একটা পরীক্ষা।",
  "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
  "我能吞下玻璃而不伤身体。天下大势，分久必合，合久必分。",
  "いろはにほへと ちりぬるを わかよたれそ つねならむ。日本語のテキストです。カタカナ、ひらがな。",
  "다람쥐 헌 쳇바퀴에 타고파. 안녕하세요, 세계!",
  "Tiếng Việt có dấu: Chữ Quốc ngữ, người Việt Nam.",
  "Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul, ılık.",
  "ქართული ენა ძალიან ლამაზია.",
  "Հայերեն լեզուն գեղեցիկ է։",
  "ሰማይ አይታረስ ንጉሥ አይከሰስ።",
  "தமிழ் ஒரு அழகான மொழி.",
  "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
  "Příliš žluťoučký kůň úpěl ďábelské ódy.",
  "Pchnąć w tę łódź jeża lub ośm skrzyń fig.",
  "Árvíztűrő tükörfúrógép.",
  "Høj bly gom vandt fræk sexquiz på wc.",
  "Ευχαριστώ πολύ! Спасибо! Gracias! Danke! Merci! ありがとう! 谢谢! 감사합니다!",
  "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ",
  "𝔗𝔥𝔢 𝔮𝔲𝔦𝔠𝔨 𝕓𝕣𝕠𝕨𝕟 𝒻𝑜𝓍 — mathematical letters.",
  "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　ＡＢＣ１２３～",
  "Ligatures: ﬁ ﬂ ﬀ ﬃ; superscripts: x² y³ ½ ⅓ ① ㈱ ™ ℃.",
];
prose.forEach(add);
// Pairs and triples of prose lines joined with various separators.
for (let i = 0; i < 40; i++) add(pick(prose) + pick([" ", "\n", "\n\n", "  ", "\t", "\r\n", " - "]) + pick(prose));

// Whitespace runs, tabs, CRLF.
const ws = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\u200b", "\ufeff", "\u2028", "\u0085", "\v", "\f"];
add(" "); add("  "); add("\t"); add("\n"); add("\r\n"); add("   leading spaces"); add("trailing spaces   ");
add("a\tb\t\tc\t\t\td"); add("line one\r\nline two\r\n\r\nline four\r\n"); add("\n\n\nthree newlines first");
add("mixed \t \n \r\n  \t\t  whitespace"); add("word" + " ".repeat(50) + "word"); add("\n".repeat(40)); add("\t".repeat(33) + "x");
add(" ".repeat(31) + "x" + " ".repeat(17)); add("▁already▁has▁metaspace ▁ ▁▁ x");
for (let i = 0; i < 25; i++) {
  let s = "";
  const n = 2 + Math.floor(rnd() * 8);
  for (let j = 0; j < n; j++) s += pick(["word", "x", "über", "日本", "42", "!", "é"]) + pick(ws) + (rnd() < 0.3 ? pick(ws) : "");
  add(s);
}

// Code.
const code = [
  "int main(int argc, char **argv) {\n    printf(\"hello %d\\n\", argc);\n    return 0;\n}\n",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "const x = await fetch(`https://example.com/api?q=${encodeURIComponent(q)}&n=10`);",
  "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\\u00e9\"}}",
  "<html><body><div class=\"main\"><p>Hello &amp; welcome</p></div></body></html>",
  "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%smith%' ORDER BY id DESC;",
  "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; } // dot product",
  "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
  "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done\n",
  "    if (x) {\n\t\treturn y;\n\t}\n",
  "a+=b; c-=d; e*=f; g/=h; i%=j; k<<=1; l>>=2; m&&n||o; p!=q; r==s; t===u; v!==w;",
  "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)\nprint(arr.shape)\n",
  "@decorator\nclass Foo(Bar, metaclass=Meta):\n    __slots__ = ('a', 'b')\n",
  "git commit -m \"fix: handle CRLF\" && git push origin HEAD:refs/heads/main",
  "C:\\Users\\name\\Documents\\file.txt /usr/local/bin/env ~/.config/app.json",
  "x = [[1,2],[3,4]]; y = {k: v for k, v in zip(a, b)}; z = lambda q: q**2",
  "// comment with unicode: π ≈ 3.14159, ∑ᵢ xᵢ², ∀x∈ℝ: x² ≥ 0",
  "https://www.example.org/path/to/page.html?query=string&x=1#fragment user@example.com",
];
code.forEach(add);

// Numbers.
const nums = ["0", "1", "12", "123", "1234", "12345", "123456789", "3.14159", "-42", "+7", "1,000,000", "1.000.000,50",
  "1e-9", "0x1F", "0b1010", "2024-01-15", "12:34:56", "$19.99", "€5", "50%", "1/2", "٠١٢٣٤٥٦٧٨٩", "०१२३४", "１２３", "Ⅻ", "3rd", "21st", "10km", "v1.2.3"];
nums.forEach(add);
for (let i = 0; i < 15; i++) add(String(Math.floor(rnd() * 1e15)) + " " + (rnd() * 1000).toFixed(Math.floor(rnd() * 6)));
add("1234567890".repeat(10));

// Emoji, ZWJ sequences, flags, skin tones, variation selectors.
const emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸🇬🇧", "❤️", "☺︎", "🧑🏾‍💻", "👩‍❤️‍💋‍👨", "🤷‍♀️", "🫠", "🐈‍⬛", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"];
emoji.forEach(add);
for (let i = 0; i < 15; i++) add("text " + pick(emoji) + pick(emoji) + " more" + pick(emoji) + "!" + pick(["", " ", "\n"]));

// Combining marks, NFC vs NFD.
const combining = ["café", "naïve", "Ångström", "résumé", "Việt Nam", "ḱṷṓn", "Zoë", "São Paulo", "한국어", "ﬁle", "Å", "e\u0301\u0302\u0303", "a\u0308\u0304", "\u0301 leading combining mark", "o\u0338", "Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o"];
for (const c of combining) { add(c.normalize("NFC")); add(c.normalize("NFD")); }
add("नमस्ते".normalize("NFD")); add("ক্ষ"); add("กำ");

// Long words.
add("a".repeat(1000)); add("ab".repeat(700)); add("supercalifragilisticexpialidocious".repeat(30));
add("Pneumonoultramicroscopicsilicovolcanoconiosis"); add("Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft");
add("日本".repeat(400)); add("😀".repeat(200)); add("x".repeat(3000) + " " + "y".repeat(10));
{ let s = ""; for (let i = 0; i < 2000; i++) s += String.fromCharCode(97 + Math.floor(rnd() * 26)); add(s); }
{ let s = ""; for (let i = 0; i < 500; i++) s += String.fromCodePoint(0x4e00 + Math.floor(rnd() * 0x5000)); add(s); }

// Literal special-token strings of all four tokenizers, alone and inside text.
const specials = ["<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<image_soft_token>",
  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>", "<|python_tag|>",
  "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "<|vision_pad|>", "<|fim_prefix|>",
  "<|startoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>", "<unused0>", "<unused99>"];
specials.forEach(add);
add("<start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\nHi!<end_of_turn>\n");
add("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
add("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
add("<|start|>user<|message|>Explain.<|end|><|start|>assistant<|channel|>final<|message|>Sure<|return|>");
for (let i = 0; i < 20; i++) add(pick(prose).slice(0, 20) + pick(specials) + pick(["", " ", "\n", "  "]) + pick(specials) + pick(prose).slice(0, 15));
add("<bos<eos>>"); add("<|im_end|<|im_end|>>"); add("< bos >"); add("<|endoftext|>".repeat(5)); add("text<|endoftext|> text <|endoftext|>text");

// Random mixtures of characters from many blocks (no lone surrogates, no NUL).
const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f],
  [0x1100, 0x11ff], [0x2000, 0x206f], [0x2190, 0x22ff], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1f6ff], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df]];
for (let i = 0; i < 60; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 40);
  for (let j = 0; j < n; j++) {
    const r = rnd() < 0.5 ? ranges[0] : pick(ranges);
    s += String.fromCodePoint(r[0] + Math.floor(rnd() * (r[1] - r[0] + 1)));
    if (rnd() < 0.1) s += pick(ws);
  }
  add(s);
}
// Random ASCII words with punctuation and apostrophes (contractions, case).
const words = ["the", "The", "THE", "it's", "IT'S", "we'll", "They'd", "I'M", "you've", "'s", "'t", "don't", "x", "QUICK", "camelCase", "snake_case", "kebab-case", "a.b.c", "...", "?!", "--", "(parens)", "[brackets]", "{braces}", "\"quoted\"", "'single'", "#hash", "@at", "100%", "e.g.", "U.S.A."];
for (let i = 0; i < 30; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 12);
  for (let j = 0; j < n; j++) s += pick(words) + pick([" ", " ", " ", "", "\n", ", ", ". "]);
  add(s);
}
add("");
add("a"); add(" a"); add("a "); add("."); add(" ."); add("I"); add("ﬃ"); add("\u00ad soft hyphen"); add("zero\u200bwidth\u200cjoiner\u200dtest");
add("Hello world"); add(" Hello world"); add("hello  world"); add("Hello\nworld"); add("hello , world . isn't it ?");

const lines = out.map((text) => JSON.stringify({ text })).join("\n") + "\n";
writeFileSync(new URL("../../../tests/data/tokenizer/corpus.jsonl", import.meta.url), lines);
console.log(`corpus: ${out.length} strings`);

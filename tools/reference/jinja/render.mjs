// render.mjs: renders mixlm's chat-template test cases with @huggingface/jinja (the reference
// interpreter transformers.js uses) and writes the golden file tests/data/templates/golden.json.
//
//   cd tools/reference/jinja && npm ci && node render.mjs
//
// Cases: every model template (tests/data/templates/{models,extra}/*/tokenizer_config.json) x every
// conversation (tests/data/templates/conversations/*.json) x add_generation_prompt on/off, plus
// every feature template (tests/data/templates/features/*.jinja) x features/context*.json, and
// every entry of features/*.templates.json (random templates from gen_random.py).
// The variables are built as mixlm's template.c (and transformers.js) builds them: messages,
// add_generation_prompt, tools (null when absent), the special tokens the model defines, then the
// request's chat_template_kwargs. strftime_now() sees a fixed time in UTC.
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

process.env.TZ = "UTC";
const NOW = 1721995200; // 2024-07-26T12:00:00Z
const RealDate = Date;
globalThis.Date = class extends RealDate {
	constructor(...args) {
		if (args.length === 0) super(NOW * 1000);
		else super(...args);
	}
	static now() {
		return NOW * 1000;
	}
};

const here = path.dirname(fileURLToPath(import.meta.url));
const data = process.env.MIXLM_TEMPLATE_DATA
	? path.resolve(process.env.MIXLM_TEMPLATE_DATA)
	: path.resolve(here, "../../../tests/data/templates");
const rel = (p) => path.relative(data, p).split(path.sep).join("/");
const sorted = (dir, pred) =>
	fs.existsSync(dir) ? fs.readdirSync(dir).filter(pred).sort().map((f) => path.join(dir, f)) : [];

const TOKENS = ["bos_token", "eos_token", "unk_token", "pad_token"];
const tokenStr = (v) =>
	typeof v === "string" ? v : v && typeof v === "object" && typeof v.content === "string" ? v.content : null;

function render(source, tokens, requestText, addGenerationPrompt) {
	const req = JSON.parse(requestText);
	let messages, tools = null, kwargs = {};
	if (Array.isArray(req)) messages = req;
	else {
		messages = req.messages;
		if (req.tools !== undefined && req.tools !== null) tools = req.tools;
		if (req.chat_template_kwargs) kwargs = req.chat_template_kwargs;
	}
	const special = {};
	for (const k of TOKENS) if (tokens[k]) special[k] = tokens[k];
	const vars = { messages, add_generation_prompt: addGenerationPrompt, tools, ...special, ...kwargs };
	try {
		return { output: new Template(source).render(vars) };
	} catch (e) {
		return { error: String(e && e.message !== undefined ? e.message : e) };
	}
}

const cases = [];
const conversations = sorted(path.join(data, "conversations"), (f) => f.endsWith(".json"));
const modelDirs = [...sorted(path.join(data, "models"), () => true), ...sorted(path.join(data, "extra"), () => true)];
for (const dir of modelDirs) {
	const cfg = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
	const tokens = {};
	for (const k of TOKENS) tokens[k] = tokenStr(cfg[k]);
	for (const conv of conversations) {
		const text = fs.readFileSync(conv, "utf8");
		for (const agp of [false, true]) {
			cases.push({ template: rel(dir), request: rel(conv), add_generation_prompt: agp, now: NOW,
				...render(cfg.chat_template, tokens, text, agp) });
		}
	}
}
const featureDir = path.join(data, "features");
const contexts = sorted(featureDir, (f) => f.startsWith("context") && f.endsWith(".json"));
for (const tpl of sorted(featureDir, (f) => f.endsWith(".jinja"))) {
	const source = fs.readFileSync(tpl, "utf8");
	for (const ctx of contexts) {
		const text = fs.readFileSync(ctx, "utf8");
		cases.push({ template: rel(tpl), request: rel(ctx), add_generation_prompt: true, now: NOW,
			...render(source, { bos_token: "<s>", eos_token: "</s>" }, text, true) });
	}
}
// Batches of generated templates (gen_random.py): features/*.templates.json, one case per entry.
for (const batch of sorted(featureDir, (f) => f.endsWith(".templates.json"))) {
	const sources = JSON.parse(fs.readFileSync(batch, "utf8"));
	const text = fs.readFileSync(path.join(featureDir, "context.json"), "utf8");
	sources.forEach((source, i) => {
		cases.push({ template: `${rel(batch)}#${i}`, request: "features/context.json", add_generation_prompt: true,
			now: NOW, ...render(source, { bos_token: "<s>", eos_token: "</s>" }, text, true) });
	});
}
const out = { generator: "tools/reference/jinja/render.mjs with @huggingface/jinja 0.5.11", cases };
fs.writeFileSync(path.join(data, "golden.json"), JSON.stringify(out, null, 1) + "\n");
const errors = cases.filter((c) => c.error !== undefined).length;
console.log(`golden.json: ${cases.length} cases (${errors} expected errors)`);

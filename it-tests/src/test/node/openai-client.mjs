// Drives a running `kiln serve` with the official openai client: node openai-client.mjs BASE_URL MODEL
// Exits 0 when every check passes; prints the first failure and exits 1 otherwise.
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 60_000 });
const prompt = "ROMEO: But soft, what light";
const messages = [{ role: "user", content: "Who is Romeo?" }];

async function check(name, body) {
  await body();
  console.log("ok", name);
}

await check("models list", async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.equal(models.length, 1);
  assert.equal(models[0].id, model);
  assert.equal(models[0].object, "model");
});

let greedy;
await check("completion", async () => {
  const c = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 });
  assert.equal(c.object, "text_completion");
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].finish_reason, "length");
  assert.equal(c.usage.completion_tokens, 12);
  assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + 12);
  greedy = c.choices[0].text;
  assert.ok(greedy.length > 0);
});

await check("stop sequences", async () => {
  const stop = greedy.slice(Math.floor(greedy.length / 2), Math.floor(greedy.length / 2) + 3);
  const c = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, stop: [stop, "@@@"] });
  assert.equal(c.choices[0].finish_reason, "stop");
  assert.equal(c.choices[0].text, greedy.slice(0, greedy.indexOf(stop)));
  assert.ok(!c.choices[0].text.includes(stop));
});

await check("completion logprobs", async () => {
  const c = await client.completions.create({ model, prompt, max_tokens: 5, temperature: 0, logprobs: 3 });
  const lp = c.choices[0].logprobs;
  assert.equal(lp.tokens.length, 5);
  assert.equal(lp.token_logprobs.length, 5);
  assert.equal(lp.tokens.join(""), c.choices[0].text);
  for (let i = 0; i < 5; i++) {
    const best = Math.max(...Object.values(lp.top_logprobs[i]));
    assert.equal(lp.token_logprobs[i], best, "greedy picks the most likely token");
  }
});

await check("streamed chat with usage", async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  let role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    for (const choice of chunk.choices) {
      role = role ?? choice.delta.role;
      text += choice.delta.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(role, "assistant");
  assert.ok(finish === "length" || finish === "stop");
  assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0);
  const whole = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
  assert.equal(whole.choices[0].message.content, text, "streamed and whole answers agree");
  assert.deepEqual(whole.usage, usage);
});

await check("chat logprobs", async () => {
  const c = await client.chat.completions.create({
    model, messages, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  const content = c.choices[0].logprobs.content;
  assert.ok(content.length > 0);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 2);
    assert.equal(t.logprob, t.top_logprobs[0].logprob);
    assert.ok(Array.isArray(t.bytes));
  }
});

await check("an error surfaces as BadRequestError", async () => {
  await assert.rejects(
    client.completions.create({ model, prompt, max_tokens: 5, temperature: 7 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "temperature"
      && /temperature/.test(e.message));
  await assert.rejects(
    client.completions.create({ model: "no-such-model", prompt }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
});

await check("16 concurrent streams", async () => {
  const runs = Array.from({ length: 16 }, async (_, i) => {
    const stream = await client.completions.create({
      model, prompt: `First Citizen ${i}:`, max_tokens: 20, temperature: 0.8, seed: i, stream: true,
    });
    let text = "";
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const again = await client.completions.create({
      model, prompt: `First Citizen ${i}:`, max_tokens: 20, temperature: 0.8, seed: i,
    });
    assert.equal(again.choices[0].text, text, `stream ${i}: a seed gives the same text streamed or not`);
    return finish;
  });
  const finishes = await Promise.all(runs);
  assert.ok(finishes.every((f) => f === "length" || f === "stop"));
});

console.log("all openai client checks passed");

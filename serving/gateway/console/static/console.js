// modelyard console: the three models and their rollouts, through the gateway's own routes.
// The API key lives in sessionStorage (this tab only, gone when it closes) and travels in the
// x-api-key header, never in a URL. The admin key is read from its field for one change and
// never stored. Every answer is drawn with textContent: nothing a model returns becomes markup.
"use strict";

const KEY_SLOT = "modelyard.apiKey";
const CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
  "Sneaker", "Bag", "Ankle boot"];
const UNKNOWN_USER = 999999;
const TRAFFIC_EVERY_MS = 2000;
const $ = (id) => document.getElementById(id);

let galleryOffset = 0;
let trafficTimer = null;

function apiKey() { return sessionStorage.getItem(KEY_SLOT) || ""; }

function element(tag, attributes = {}, text = null) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== null) made.textContent = text;
  return made;
}

class ApiError extends Error {}

// One gateway call with the key; the answer's body, its model version and its latency.
async function call(path, options = {}, key = apiKey()) {
  if (!key) throw new ApiError("enter the API key first (top right)");
  const headers = { "x-api-key": key, ...(options.headers || {}) };
  const started = performance.now();
  const response = await fetch(path, { ...options, headers, cache: "no-store", credentials: "omit" });
  const ms = performance.now() - started;
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) {
    const message = body && body.error ? body.error : `HTTP ${response.status}`;
    throw new ApiError(`${response.status}: ${message}`);
  }
  return { body, ms, version: response.headers.get("x-modelyard-version") };
}

function predict(model, payload) {
  return call(`/v1/models/${model}:predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
}

function showError(id, error) {
  const where = $(id);
  where.hidden = !error;
  where.textContent = error ? String(error.message || error) : "";
}

function showVersion(prefix, model, answer) {
  const version = answer.version || (answer.body && answer.body.version);
  $(`${prefix}-version`).textContent = `${model} v${version ?? "?"}`;
  $(`${prefix}-meta`).textContent = `${answer.ms.toFixed(0)} ms`;
}

// --- key -------------------------------------------------------------------------------------

async function checkKey() {
  const status = $("key-status");
  if (!apiKey()) { status.textContent = "no key yet: answers need one"; return; }
  try {
    const { body } = await call("/v1/models");
    status.textContent = `key accepted: ${body.models.join(", ")}`;
    fillModels(body.models);
    loadGallery();
  } catch (error) {
    status.textContent = `key refused (${error.message})`;
  }
}

function fillModels(models) {
  const select = $("rollout-model");
  select.replaceChildren(...models.map((m) => element("option", { value: m }, m)));
}

// --- visual search ---------------------------------------------------------------------------

async function thumbnail(id) {
  const { body } = await call(`/ui/api/images/${Number(id)}`);
  return body;
}

async function loadGallery() {
  const label = $("gallery-label").value;
  const query = new URLSearchParams({ count: "12", offset: String(galleryOffset) });
  if (label !== "") query.set("label", label);
  try {
    const { body } = await call(`/ui/api/gallery?${query}`);
    const figures = await Promise.all(body.images.map(async (image) => {
      const blob = await thumbnail(image.id);
      const figure = element("figure", { "data-id": String(image.id), title: `test image ${image.id}` });
      figure.append(element("img", { src: URL.createObjectURL(blob), alt: image.class_name }),
        element("figcaption", {}, image.class_name));
      figure.addEventListener("click", () => search(blob));
      return figure;
    }));
    $("gallery").replaceChildren(...figures);
    showError("search-error", null);
  } catch (error) {
    showError("search-error", error);
  }
}

function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function search(blob) {
  const k = Math.max(1, Math.min(50, Number($("search-k").value) || 10));
  const payload = { instances: [{ image_b64: await base64Of(blob) }], k };
  const label = $("search-label").value;
  if (label !== "") payload.filter = { label: Number(label) };
  try {
    const answer = await predict("visual-search", payload);
    $("search-query").src = URL.createObjectURL(blob);
    const hits = answer.body.predictions[0];
    const figures = await Promise.all(hits.map(async (hit) => {
      const figure = element("figure", { class: "hit", "data-id": String(hit.id) });
      const image = element("img", { alt: hit.class_name || "" });
      try { image.src = URL.createObjectURL(await thumbnail(hit.id)); } catch { image.alt = "no image here"; }
      figure.append(image, element("figcaption", {}, hit.class_name ?? `label ${hit.label}`),
        element("figcaption", { class: "score" }, hit.score.toFixed(3)));
      return figure;
    }));
    $("search-hits").replaceChildren(...figures);
    showVersion("search", "visual-search", answer);
    $("search-meta").textContent += ` · ${hits.length} nearest${label !== "" ? ` of class ${CLASSES[label]}` : ""}`;
    $("search-result").hidden = false;
    showError("search-error", null);
  } catch (error) {
    showError("search-error", error);
  }
}

// --- moderation ------------------------------------------------------------------------------

function meter(score, limits) {
  const bar = element("div", { class: "meter" });
  const fill = element("div", { class: "fill" });
  fill.style.width = `${(score * 100).toFixed(1)}%`;
  bar.append(fill);
  for (const [name, at] of [["review", limits.review], ["block", limits.block]]) {
    if (at === null || at === undefined) continue;
    const mark = element("div", { class: `mark ${name}`, title: `${name} at ${at.toFixed(3)}` });
    mark.style.left = `${(at * 100).toFixed(1)}%`;
    mark.append(element("span", {}, `${name} ${at.toFixed(2)}`));
    bar.append(mark);
  }
  return bar;
}

async function moderate(event) {
  event.preventDefault();
  try {
    const answer = await predict("moderation", { instances: [{ text: $("moderation-text").value }] });
    const verdict = answer.body.predictions[0];
    const decision = $("moderation-decision");
    decision.textContent = verdict.decision;
    decision.className = `decision ${verdict.decision}`;
    $("moderation-reason").textContent = verdict.reason;
    const rows = Object.entries(verdict.scores).map(([head, score]) => {
      const row = element("div", { class: "head", "data-head": head });
      row.append(element("div", {}, `${head} probability ${score.toFixed(3)}`),
        meter(score, (verdict.thresholds || {})[head] || {}));
      return row;
    });
    $("moderation-scores").replaceChildren(...rows);
    showVersion("moderation", "moderation", answer);
    $("moderation-result").hidden = false;
    showError("moderation-error", null);
  } catch (error) {
    showError("moderation-error", error);
  }
}

// --- ranking ---------------------------------------------------------------------------------

const STAGES = {
  history: "candidates: the nearest movies to this user's history (EASE vectors, minus those seen) → click model → re-rank",
  popular: "cold start: unknown user, candidates are the most clicked movies → click model → re-rank",
  given: "candidates given by the request → click model → re-rank",
};

async function rank(userId) {
  const n = Math.max(1, Math.min(50, Number($("ranking-n").value) || 10));
  try {
    const answer = await predict("ranking", { user_id: userId, n });
    const ranking = answer.body.predictions[0];
    $("ranking-stage").textContent = `user ${userId}: ${STAGES[ranking.retrieval] || ranking.retrieval}`;
    const rows = ranking.items.map((item, index) => {
      const row = element("tr");
      row.append(element("td", { class: "num" }, String(index + 1)), element("td", {}, item.title),
        element("td", {}, item.genres.join(", ")), element("td", { class: "num" }, item.score.toFixed(4)));
      return row;
    });
    $("ranking-rows").replaceChildren(...rows);
    showVersion("ranking", "ranking", answer);
    $("ranking-result").hidden = false;
    showError("ranking-error", null);
  } catch (error) {
    showError("ranking-error", error);
  }
}

// --- rollouts --------------------------------------------------------------------------------

function percent(value) { return `${(value * 100).toFixed(2)}%`; }

function trafficCard(model) {
  const card = element("div", { class: "model-traffic", "data-model": model.model });
  const split = model.mode ? `${model.mode} ${model.percent}% (${model.phase})` : "no rollout: stable only";
  card.append(element("h3", {}, `${model.model} · ${split}`));
  const bar = element("div", { class: "split" });
  const canaryShare = model.mode === "canary" ? model.percent : 0;
  const stable = element("div", { class: "stable" });
  stable.style.width = `${100 - canaryShare}%`;
  const canary = element("div", { class: "canary" });
  canary.style.width = `${canaryShare}%`;
  bar.append(stable, canary);
  card.append(bar);
  const table = element("table");
  const head = element("tr");
  for (const title of ["role", "version", "requests", "req/s", "error rate", "p99 ms"]) {
    head.append(element("th", { class: title === "role" || title === "version" ? "" : "num" }, title));
  }
  table.append(head);
  for (const v of model.variants) {
    const row = element("tr", { "data-role": v.role });
    const role = v.source === "shadow" ? "shadow" : v.role;
    row.append(element("td", {}, role), element("td", {}, `v${v.version}`),
      element("td", { class: "num" }, String(v.requests)),
      element("td", { class: "num" }, v.rate_per_s === null ? "-" : v.rate_per_s.toFixed(2)),
      element("td", { class: "num" }, percent(v.error_rate)),
      element("td", { class: "num" }, v.p99_ms === null ? "-" : v.p99_ms.toFixed(1)));
    table.append(row);
  }
  card.append(table);
  return card;
}

async function refreshTraffic() {
  if ($("tab-rollouts").hidden || !apiKey()) return;
  try {
    const { body } = await call("/ui/api/traffic");
    $("traffic-window").textContent = body.window_s === null
      ? "figures since the gateway started; rates appear from the next refresh"
      : `last ${body.window_s} s`;
    $("traffic").replaceChildren(...body.models.map(trafficCard));
    showError("traffic-error", null);
  } catch (error) {
    showError("traffic-error", error);
  }
}

async function changeRollout(ending) {
  const model = $("rollout-model").value;
  const adminKey = $("admin-key").value;
  const status = $("rollout-status");
  try {
    if (!adminKey) throw new ApiError("changing a split needs the admin key");
    const { body: view } = await call(`/admin/rollouts/${encodeURIComponent(model)}`, {}, adminKey);
    const rollout = view.rollout;
    if (!rollout || !rollout.canary) {
      throw new ApiError(`${model} has no candidate: start one with yard rollout start ${model}`);
    }
    const share = Math.max(0, Math.min(100, Number($("rollout-percent").value) || 0));
    const spec = {
      mode: rollout.mode,
      stable: rollout.stable,
      previous: rollout.previous,
      canary: ending ? null : rollout.canary,
      percent: ending ? 0 : share,
      phase: ending ? "rolled_back" : "running",
      reason: ending ? "ended from the console" : `set to ${share}% from the console`,
    };
    await call(`/admin/rollouts/${encodeURIComponent(model)}`, {
      method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(spec),
    }, adminKey);
    status.textContent = `${model}: ${spec.reason}`;
    refreshTraffic();
  } catch (error) {
    status.textContent = String(error.message || error);
  } finally {
    $("admin-key").value = "";
  }
}

// --- wiring ----------------------------------------------------------------------------------

function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== `tab-${name}`;
  clearInterval(trafficTimer);
  if (name === "rollouts") {
    refreshTraffic();
    trafficTimer = setInterval(refreshTraffic, TRAFFIC_EVERY_MS);
  }
}

function start() {
  for (const select of document.querySelectorAll(".class-select")) {
    CLASSES.forEach((name, label) => select.append(element("option", { value: String(label) }, name)));
  }
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_SLOT, $("api-key").value.trim());
    $("api-key").value = "";
    checkKey();
  });
  $("forget-key").addEventListener("click", () => { sessionStorage.removeItem(KEY_SLOT); checkKey(); });
  $("gallery-label").addEventListener("change", () => { galleryOffset = 0; loadGallery(); });
  $("gallery-more").addEventListener("click", () => { galleryOffset += 12; loadGallery(); });
  $("upload").addEventListener("change", () => { const file = $("upload").files[0]; if (file) search(file); });
  $("moderation-form").addEventListener("submit", moderate);
  $("ranking-form").addEventListener("submit", (event) => {
    event.preventDefault();
    rank(Number($("ranking-user").value));
  });
  $("ranking-unknown").addEventListener("click", () => rank(UNKNOWN_USER));
  $("rollout-form").addEventListener("submit", (event) => { event.preventDefault(); changeRollout(false); });
  $("rollout-stop").addEventListener("click", () => changeRollout(true));
  checkKey();
}

document.addEventListener("DOMContentLoaded", start);

// easel web chat: talks only to /api/v1 (see the README). No build step, no dependencies.
import { seamBox } from "./canvas-shapes.js";
import { createRepaintEditor } from "./repaint.js";

const $ = (selector) => document.querySelector(selector);
const cards = $("#cards");
const prompt = $("#prompt");
const composer = $("#composer");
const sendButton = $("#send");
const announcer = $("#announcer");
const helpDialog = $("#help");
const viewer = $("#viewer");

/** jobId → { card, source, job } */
const jobs = new Map();
/** What was typed for each job, so a reload can show it before the job's caption exists. */
const PROMPTS_KEY = "easel.prompts";
const FINAL = new Set(["done", "failed", "cancelled"]);

function loadPrompts() {
  try {
    return JSON.parse(localStorage.getItem(PROMPTS_KEY) ?? "{}");
  } catch {
    return {};
  }
}
function rememberPrompt(jobId, text) {
  const prompts = loadPrompts();
  prompts[jobId] = text;
  const ids = Object.keys(prompts);
  for (const id of ids.slice(0, Math.max(0, ids.length - 200))) delete prompts[id];
  try {
    localStorage.setItem(PROMPTS_KEY, JSON.stringify(prompts));
  } catch {
    // storage full or disabled: the caption still shows the prompt once the job is done
  }
}

/** `**bold**` and `code` spans (the chat service's markup) as DOM nodes; everything else is text. */
function markup(text) {
  const fragment = document.createDocumentFragment();
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const target = document.createElement("span");
    for (const part of line.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
      if (!part) continue;
      if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
        const strong = document.createElement("strong");
        strong.textContent = part.slice(2, -2);
        target.append(strong);
      } else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) {
        const code = document.createElement("code");
        code.textContent = part.slice(1, -1);
        target.append(code);
      } else {
        target.append(part);
      }
    }
    fragment.append(target);
    if (i < lines.length - 1) fragment.append(document.createElement("br"));
  });
  return fragment;
}

function announce(text) {
  announcer.textContent = "";
  setTimeout(() => {
    announcer.textContent = text;
  }, 30);
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data;
  try {
    data = await response.json();
  } catch {
    data = undefined;
  }
  if (response.status === 401) showLogin();
  return { ok: response.ok, status: response.status, data };
}

function errorText(result) {
  return result.data?.error?.message ?? `The server answered ${result.status}. Please try again.`;
}

function nearBottom() {
  return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
}
function scrollToEnd() {
  window.scrollTo({
    top: document.body.scrollHeight,
    behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth",
  });
}

// ── Cards ───────────────────────────────────────────────────────────────────────────────────

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role")
      node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

/** A card for one request: the prompt (what the user typed), then the bot's answer. */
function newCard({ promptText, origin }) {
  const card = el("li", { class: "card" });
  const head = el(
    "div",
    { class: "card-head" },
    el("span", { class: "avatar", "aria-hidden": "true", text: "you" }),
    el(
      "p",
      { class: "card-prompt" },
      ...(origin ? [el("span", { class: "origin", text: origin })] : []),
      el("span", { class: "prompt-text", text: promptText ?? "" }),
    ),
  );
  // Not a live region itself: state changes are announced once, through #announcer.
  const status = el("p", { class: "status" });
  const body = el("div", { class: "card-body" }, status);
  card.append(head, body);
  cards.append(card);
  $("#welcome").hidden = true;
  return card;
}

function errorCard(promptText, message) {
  const card = newCard({ promptText });
  card.classList.add("is-error");
  card.dataset.status = "error";
  const status = card.querySelector(".status");
  status.setAttribute("role", "alert");
  status.replaceChildren(markup(message));
  scrollToEnd();
  return card;
}

function statusLine(job) {
  if (job.status === "queued") return job.text || `Queued #${job.position}`;
  if (job.status === "running") return job.step ? "Generating…" : "Starting…";
  if (job.deleted) return job.text;
  if (job.status === "done") return "Done.";
  if (job.status === "cancelled") return job.text || "Cancelled.";
  return job.error?.message ?? job.text;
}

function renderJob(entry, job) {
  const { card } = entry;
  const previous = entry.job;
  entry.job = job;
  card.dataset.jobId = job.id;
  card.dataset.status = job.deleted ? "deleted" : job.status;
  const body = card.querySelector(".card-body");
  const status = body.querySelector(".status");
  const line = statusLine(job);
  if (status.textContent !== line) status.replaceChildren(markup(line));
  if (job.caption) {
    const promptNode = card.querySelector(".prompt-text");
    if (!promptNode.textContent) promptNode.textContent = job.caption.split("\n")[0];
  }

  // Progress and live preview while running.
  let progress = body.querySelector(".progress");
  if (job.status === "running" && job.total) {
    if (!progress) {
      progress = el(
        "div",
        { class: "progress" },
        el(
          "div",
          {
            class: "progress-track",
            role: "progressbar",
            "aria-label": "Generation progress",
            "aria-valuemin": "0",
          },
          el("div", { class: "progress-fill" }),
        ),
        el("span", { class: "progress-label" }),
      );
      status.after(progress);
    }
    const step = job.step ?? 0;
    const track = progress.querySelector(".progress-track");
    track.setAttribute("aria-valuemax", String(job.total));
    track.setAttribute("aria-valuenow", String(step));
    progress.querySelector(".progress-fill").style.width = `${(100 * step) / job.total}%`;
    progress.querySelector(".progress-label").textContent = `step ${step}/${job.total}`;
  } else if (progress) {
    progress.remove();
  }
  let preview = body.querySelector(".preview");
  if (job.status === "running" && job.preview) {
    if (!preview) {
      preview = el(
        "figure",
        { class: "preview" },
        el("img", { alt: "Live preview of the image being made" }),
      );
      (body.querySelector(".progress") ?? status).after(preview);
    }
    preview.querySelector("img").src = job.preview;
  } else if (preview && job.status !== "running") {
    preview.remove();
  }

  // The result: images, caption (gone once the result is deleted).
  if (job.deleted) {
    body.querySelector(".images")?.remove();
    body.querySelector(".caption")?.remove();
  } else if (job.status === "done" && !body.querySelector(".images")) {
    // A withheld image (output moderation) has no URL: the caption says so.
    const shown = job.images.filter((image) => image.url);
    const images = el("div", { class: "images", "data-count": String(shown.length) });
    const total = job.images.length;
    for (const image of shown) {
      const n = image.index + 1;
      const label = `Open image ${n} of ${total} full size (seed ${image.seed}, ${image.width}×${image.height})`;
      const img = el("img", {
        src: image.url,
        alt: `Image ${n}: ${job.caption?.split("\n")[0] ?? ""}`,
        width: image.width,
        height: image.height,
        loading: "lazy",
        decoding: "async",
      });
      const thumb = el("button", { type: "button", class: "thumb", "aria-label": label }, img);
      const seam = seamOutline(image);
      if (seam) thumb.append(seam);
      thumb.dataset.index = String(image.index);
      if (image.display !== "plain") thumb.dataset.display = image.display;
      if (total > 1) thumb.append(el("span", { class: "badge", "aria-hidden": "true", text: `${n}` }));
      thumb.addEventListener("click", () => openViewer(job, image));
      images.append(thumb);
    }
    body.append(images, el("p", { class: "caption" }, markup(job.caption ?? job.text)));
    if (job.notice) body.append(el("p", { class: "notice", role: "note" }, markup(job.notice)));
  }

  // Buttons from the service's view: cancel while queued/running, result buttons when done.
  // Rebuilt only when they change, so a keyboard user's focus on Cancel survives progress updates.
  const buttonsKey = JSON.stringify(job.buttons);
  if (entry.buttonsKey === buttonsKey) return announceChange(previous, job);
  entry.buttonsKey = buttonsKey;
  const hadFocus = body.querySelector(".actions")?.contains(document.activeElement) ?? false;
  body.querySelector(".actions")?.remove();
  if (job.buttons.length > 0) {
    const actions = el("div", { class: "actions", role: "group", "aria-label": "Actions" });
    for (const row of job.buttons) {
      const rowNode = el("div", { class: "actions-row" });
      for (const button of row) rowNode.append(actionButton(entry, button));
      actions.append(rowNode);
    }
    if (job.status === "done" && !job.deleted) addRepaintButtons(entry, actions);
    body.append(actions);
    if (hadFocus) actions.querySelector("button")?.focus();
  }
  announceChange(previous, job);
}

/** A button the service described; pressing it calls the API (delete asks twice). */
function actionButton(entry, button) {
  const kind = button.press.kind === "action" ? button.press.action.action : button.press.kind;
  const node = el("button", { type: "button", class: button.style, "data-action": kind }, button.label);
  if (button.press.kind === "action") describeAction(node, button.press.action);
  node.addEventListener("click", () =>
    kind === "delete"
      ? confirmDelete(entry, button, node)
      : kind === "show"
        ? showOriginal(entry, button, node)
        : press(entry, button, node),
  );
  return node;
}

/**
 * Which image a button acts on and, for the canvas buttons, what they do: arrows alone are terse
 * (title and accessible name), and the data attributes let the page and its tests find them.
 */
function describeAction(node, action) {
  if (action.index !== undefined) node.dataset.index = String(action.index);
  if (action.action === "pan") {
    node.dataset.direction = action.direction;
    node.title = `Pan ${action.direction}: extend the canvas to the ${action.direction}`;
    node.setAttribute("aria-label", `Pan ${action.direction}`);
  } else if (action.action === "zoom_out") {
    const factor = action.factor ?? 2;
    node.dataset.factor = String(factor);
    node.title = `Zoom out ${factor}×: the same size, with more around it`;
  }
}

/**
 * "Repaint region" for each image, beside that image's other canvas buttons (its zoom row, else
 * its last row): the chats have no drawing surface, so the page adds this one itself.
 */
function addRepaintButtons(entry, actions) {
  const { job } = entry;
  const rows = [...actions.querySelectorAll(".actions-row")];
  for (const image of job.images) {
    // A withheld image has nothing to draw on, and the server refuses to make anything from it.
    if (image.display === "withheld") continue;
    const label = job.images.length === 1 ? "🖌️ Repaint region" : `🖌️ Repaint ${image.index + 1}`;
    const node = el("button", { type: "button", class: "secondary", "data-action": "repaint" }, label);
    node.dataset.index = String(image.index);
    node.title = "Mark a region of the image and say what should be there";
    node.setAttribute("aria-haspopup", "dialog");
    node.addEventListener("click", () => openRepaint(entry, image, node));
    const names = (selector) => (candidate) => candidate.querySelector(selector);
    const row =
      rows.find(names(`button[data-action="zoom_out"][data-index="${image.index}"]`)) ??
      rows.findLast(names(`button[data-index="${image.index}"]`));
    if (row) row.append(node);
    else actions.prepend(el("div", { class: "actions-row" }, node));
  }
}

/** The dashed outline of where the earlier image sits in a zoomed-out or panned result. */
function seamOutline(image) {
  const box = seamBox(image.source, image.width, image.height);
  if (!box) return undefined;
  const seam = el("span", { class: "seam", "aria-hidden": "true" });
  Object.assign(seam.style, box);
  return seam;
}

function announceChange(previous, job) {
  // A finished job loaded from history is not news; a new or changing one is.
  if (previous === undefined && FINAL.has(job.status)) return;
  if (job.status === "queued" && previous?.position !== job.position) announce(job.text);
  else if (previous?.status !== job.status) {
    if (job.status === "done")
      announce(`Done: ${job.images.length} image${job.images.length === 1 ? "" : "s"} ready.`);
    else if (job.status === "failed") announce(`Failed: ${job.error?.message ?? job.text}`);
    else if (job.status === "cancelled") announce("Cancelled.");
    else if (job.status === "running") announce("Generating.");
  }
}

function showCardError(entry, message) {
  const body = entry.card.querySelector(".card-body");
  body.querySelector(".card-error")?.remove();
  body.append(el("p", { class: "error card-error", role: "alert" }, markup(message)));
}

/**
 * "Show" on a blurred image (output moderation): the original, which the server gives only to its
 * requester and the admins, in place of the blurred copy, for this page only.
 */
async function showOriginal(entry, button, node) {
  node.disabled = true;
  entry.card.querySelector(".card-error")?.remove();
  try {
    const response = await fetch(button.press.url, { credentials: "same-origin" });
    if (!response.ok) {
      let data;
      try {
        data = await response.json();
      } catch {
        data = undefined;
      }
      showCardError(entry, errorText({ status: response.status, data }));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const image = entry.job.images.find((each) => each.index === button.press.index);
    if (image) image.url = url;
    const thumb = entry.card.querySelector(`.thumb[data-index="${button.press.index}"]`);
    if (thumb) {
      thumb.querySelector("img").src = url;
      delete thumb.dataset.display;
    }
    node.remove();
    announce(`Image ${button.press.index + 1} shown.`);
  } catch {
    showCardError(entry, "The image could not be loaded. Please try again.");
  } finally {
    node.disabled = false;
  }
}

/** How long a delete button waits for its second, confirming press. */
const CONFIRM_MS = 5000;

/** Armed delete buttons → their disarm function. */
const armed = new WeakMap();

/** Delete asks twice: the first press arms the button, a second within CONFIRM_MS deletes. */
function confirmDelete(entry, button, node) {
  const armedDisarm = armed.get(node);
  if (armedDisarm) {
    armedDisarm();
    press(entry, button, node);
    return;
  }
  const label = node.textContent;
  const disarm = () => {
    clearTimeout(timer);
    armed.delete(node);
    node.removeEventListener("blur", disarm);
    delete node.dataset.confirming;
    node.textContent = label;
  };
  const timer = setTimeout(disarm, CONFIRM_MS);
  armed.set(node, disarm);
  node.addEventListener("blur", disarm);
  node.dataset.confirming = "true";
  node.textContent = "Delete for good?";
  announce("Press again to delete this result and its images.");
}

const UNREACHABLE = "The server can't be reached. Is easel still running?";

async function press(entry, button, node) {
  const jobId = entry.job.id;
  node.disabled = true;
  entry.card.querySelector(".card-error")?.remove();
  try {
    if (button.press.kind === "cancel") {
      const result = await api("DELETE", `/api/v1/jobs/${encodeURIComponent(jobId)}`);
      if (!result.ok) showCardError(entry, errorText(result));
      return;
    }
    // The accessible name says what an arrow-only label means ("Pan up").
    const label = node.getAttribute("aria-label") ?? button.label;
    const problem = await runAction(entry, button.press.action, label);
    if (problem) showCardError(entry, problem);
  } catch {
    showCardError(entry, UNREACHABLE);
  } finally {
    node.disabled = false;
  }
}

/**
 * Posts an action on a job's result; a new job gets its own card, followed live. Resolves to the
 * error to show, or undefined.
 */
async function runAction(entry, action, label, promptText) {
  const result = await api("POST", `/api/v1/jobs/${encodeURIComponent(entry.job.id)}/actions`, action);
  if (!result.ok) return errorText(result);
  if (result.data.job?.deleted) {
    renderJob(entry, result.data.job);
    announce(result.data.message);
    return undefined;
  }
  if (!result.data?.jobId) {
    // Information rather than a new job (nothing was started).
    if (result.data?.message) announce(result.data.message);
    return undefined;
  }
  const origin = `${label} of an earlier image`;
  const text = promptText ?? entry.card.querySelector(".prompt-text").textContent;
  rememberPrompt(result.data.jobId, text);
  addJob(result.data.job, { promptText: text, origin, follow: true });
  scrollToEnd();
  return undefined;
}

// ── Repaint a region ────────────────────────────────────────────────────────────────────────

/** The editor's job card, while it is open. */
let repaintEntry;
const repaintEditor = createRepaintEditor({
  send: async (body) => {
    if (!repaintEntry) return "That result is no longer shown.";
    try {
      return await runAction(repaintEntry, body, "🖌️ Repaint region", body.prompt);
    } catch {
      return UNREACHABLE;
    }
  },
});

function openRepaint(entry, image, opener) {
  repaintEntry = entry;
  const prompt = entry.job.caption?.split("\n")[0] ?? entry.card.querySelector(".prompt-text").textContent;
  repaintEditor.open({ image, prompt, alt: `Image ${image.index + 1}: ${prompt}`, opener });
}

/** A card for a job, kept current over its event stream until it ends. */
function addJob(job, { promptText, origin, follow }) {
  let entry = jobs.get(job.id);
  if (!entry) {
    entry = { card: newCard({ promptText, origin }), job: undefined, source: undefined };
    jobs.set(job.id, entry);
  }
  renderJob(entry, job);
  if (follow && !FINAL.has(job.status)) subscribe(entry);
  return entry;
}

function subscribe(entry) {
  entry.source?.close();
  const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(entry.job.id)}/events`);
  entry.source = source;
  for (const name of ["queued", "started", "progress", "done", "failed", "cancelled"]) {
    source.addEventListener(name, (event) => {
      const stick = nearBottom();
      renderJob(entry, JSON.parse(event.data));
      if (FINAL.has(name)) {
        source.close();
        entry.source = undefined;
      }
      if (stick) scrollToEnd();
    });
  }
}

// ── Composer ────────────────────────────────────────────────────────────────────────────────

/** The help as the API gives it (`/api/v1/info`); also how the page knows a help answer. */
let helpText;
/** The catalogue's default model, from `/api/v1/info`. */
let defaultModel;

async function submit() {
  let text = prompt.value.trim();
  if (!text) return;
  text = text.replace(/^\/imagine\s+/i, "");
  sendButton.disabled = true;
  try {
    // The picker sends its model as an option unless it is the default or the text names one.
    const picker = $("#model-picker");
    const picked =
      !picker.hidden && picker.value && picker.value !== defaultModel && !/(^|\s)(--|—|–)model\b/i.test(text);
    // The LoRA picker adds its LoRA (at its default scale) to any the text names.
    const loraPicker = $("#lora-picker");
    const options = {
      ...(picked ? { model: picker.value } : {}),
      ...(!loraPicker.hidden && loraPicker.value ? { lora: [loraPicker.value] } : {}),
    };
    const result = await api(
      "POST",
      "/api/v1/imagine",
      Object.keys(options).length > 0 ? { text, options } : { text },
    );
    if (result.status === 202) {
      prompt.value = "";
      autosize();
      rememberPrompt(result.data.jobId, text);
      addJob(result.data.job, { promptText: text, follow: true });
      scrollToEnd();
    } else if (result.ok && helpText !== undefined && result.data?.message === helpText) {
      // The service answered a help request (what counts as one is the service's call).
      prompt.value = "";
      openHelp();
    } else if (result.ok) {
      const card = newCard({ promptText: text });
      card.querySelector(".status").replaceChildren(markup(result.data?.message ?? ""));
      card.dataset.status = "note";
    } else if (result.status !== 401) {
      errorCard(text, errorText(result));
    }
  } catch {
    errorCard(text, "The server can't be reached. Is easel still running?");
  } finally {
    sendButton.disabled = false;
    prompt.focus();
  }
}

function autosize() {
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight, window.innerHeight * 0.4)}px`;
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
prompt.addEventListener("input", autosize);
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === "?" && prompt.value === "") {
    event.preventDefault();
    openHelp();
  }
});
for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    prompt.value = example.textContent;
    autosize();
    prompt.focus();
  });
}

// ── Help, viewer, login ─────────────────────────────────────────────────────────────────────

function openHelp() {
  if (!helpDialog.open) helpDialog.showModal();
}
$("#help-button").addEventListener("click", openHelp);
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $("#repaint").open) return;
  if (event.key === "?") {
    event.preventDefault();
    openHelp();
  } else if (event.key === "/" && !document.querySelector("dialog[open]")) {
    event.preventDefault();
    prompt.focus();
  }
});
for (const close of document.querySelectorAll("[data-close]")) {
  close.addEventListener("click", () => close.closest("dialog").close());
}
for (const dialog of [helpDialog, viewer]) {
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
}

function openViewer(job, image) {
  const total = job.images.length;
  $("#viewer-title").textContent = total > 1 ? `Image ${image.index + 1} of ${total}` : "Image";
  const img = $("#viewer-image");
  img.src = image.url;
  img.alt = `Image ${image.index + 1}: ${job.caption?.split("\n")[0] ?? ""}`;
  img.width = image.width;
  img.height = image.height;
  $("#viewer-caption").replaceChildren(markup(job.caption ?? ""));
  $("#viewer-seed").textContent = image.seed;
  $("#viewer-size").textContent = `${image.width} × ${image.height}`;
  $("#viewer-open").href = image.url;
  $("#viewer-download").href = image.url;
  viewer.showModal();
}

function showLogin() {
  const dialog = $("#login");
  if (!dialog.open) dialog.showModal();
}
$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("#login-token").value;
  const result = await api("POST", "/api/v1/session", { token });
  if (result.ok) location.reload();
  else $("#login-error").textContent = errorText(result);
});

// ── Start ───────────────────────────────────────────────────────────────────────────────────

async function start() {
  prompt.focus();
  const info = await api("GET", "/api/v1/info");
  if (!info.ok) return;
  $("#demo-banner").hidden = !info.data.demoModel;
  helpText = info.data.help;
  const models = info.data.models ?? [];
  defaultModel = models.find((model) => model.default)?.name;
  const picker = $("#model-picker");
  picker.replaceChildren(
    ...models.map((model) => {
      const d = model.defaults;
      const option = el(
        "option",
        { value: model.name },
        model.label === model.name ? model.name : `${model.label} (${model.name})`,
      );
      option.title = `${model.description ? `${model.description}: ` : ""}${d.width}x${d.height}, ${d.steps} steps, cfg ${d.guidance}, ${d.scheduler}`;
      return option;
    }),
  );
  picker.hidden = models.length < 2;
  const loras = info.data.loras ?? [];
  const loraPicker = $("#lora-picker");
  loraPicker.replaceChildren(
    el("option", { value: "" }, "No LoRA"),
    ...loras.map((lora) => {
      const option = el(
        "option",
        { value: lora.name },
        lora.label === lora.name ? lora.name : `${lora.label} (${lora.name})`,
      );
      option.title = `${lora.trigger ? `adds "${lora.trigger}" to the prompt; ` : ""}scale ${lora.scale}${lora.models ? `; for ${lora.models.join(", ")}` : ""}`;
      return option;
    }),
  );
  loraPicker.hidden = loras.length === 0;
  $("#help-text").replaceChildren(...info.data.help.split("\n").map((line) => el("p", {}, markup(line))));
  // Examples in the help are buttons that put them in the prompt.
  for (const code of $("#help-text").querySelectorAll("code")) {
    const example = code.textContent.match(/^\/imagine\s+(.+)$/);
    if (!example) continue;
    const button = el(
      "button",
      { type: "button", class: "example", title: "Use this example" },
      code.textContent,
    );
    button.addEventListener("click", () => {
      prompt.value = example[1];
      autosize();
      helpDialog.close();
      prompt.focus();
    });
    code.replaceWith(button);
  }
  const history = await api("GET", "/api/v1/history");
  if (!history.ok) return;
  const prompts = loadPrompts();
  for (const job of [...history.data.jobs].reverse()) {
    addJob(job, { promptText: prompts[job.id], follow: true });
  }
  if (history.data.jobs.length > 0) scrollToEnd();
}

start().catch(() => errorCard("", "The server can't be reached. Is easel still running?"));

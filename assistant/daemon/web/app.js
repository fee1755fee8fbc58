// The coach's page: four views over the JSON API at /api/ (with the page's token),
// kept up to date by the server-sent events at /events. Text goes in as text, never
// as markup; the charts are the server's SVG, parsed as XML.
"use strict";

const token = document.querySelector('meta[name="coach-token"]').content;
const $ = (id) => document.getElementById(id);
const views = ["now", "log", "you", "turns"];
let timers = [];  // from /api/now, with the page's clock when each was read
let ticking = null;
let exercise = "";
const latest = { now: 0, log: 0, you: 0, turns: 0 };  // a view is redrawn by its latest refresh only

async function api(path, body) {
  const options = { headers: { "X-Coach-Token": token } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401 && performance.now() > 5000) {
    location.reload();  // the coach was restarted (a new token), or this screen must pair again
  }
  if (!response.ok) {
    throw new Error(`${path}: ${response.status}`);
  }
  return response.headers.get("Content-Type").startsWith("image/svg") ? response.text() : response.json();
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function button(label, action) {
  const made = element("button", label);
  made.addEventListener("click", () => action().catch(report));
  return made;
}

async function chart(path) {
  const svg = new DOMParser().parseFromString(await api(path), "image/svg+xml").documentElement;
  return document.importNode(svg, true);
}

// -- Now ------------------------------------------------------------------------------

function clock(seconds) {
  const whole = Math.max(0, Math.ceil(seconds - 0.05));
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

function tick() {
  const now = performance.now();
  let running = false;
  for (const timer of timers) {
    const left = timer.paused || timer.done ? timer.left_s : timer.left_s - (now - timer.read) / 1000;
    timer.node.querySelector(".left").textContent = clock(left);
    running = running || (!timer.paused && !timer.done && left > 0);
  }
  if (!running && ticking !== null) {
    clearInterval(ticking);
    ticking = null;
  }
}

function showTimers(list) {
  const read = performance.now();
  const box = $("timers");
  box.replaceChildren();
  timers = list.map((timer) => {
    const node = element("div", undefined, `timer${timer.paused ? " paused" : ""}`);
    node.dataset.timer = timer.id;
    node.append(element("div", "", "left"), element("div", timer.what + (timer.paused ? " (paused)" : ""), "what"));
    box.append(node);
    return { ...timer, read, node };
  });
  tick();
  if (timers.some((t) => !t.paused) && ticking === null) {
    ticking = setInterval(tick, 100);
  }
}

function finished(timerId) {
  const timer = timers.find((t) => t.id === timerId);
  if (timer === undefined) return;
  Object.assign(timer, { done: true, left_s: 0 });
  timer.node.classList.add("done");
  tick();
  setTimeout(() => refreshNow().catch(report), 5000);
}

async function refreshNow() {
  const mine = ++latest.now;
  const now = await api("/api/now");
  if (mine !== latest.now) return;
  $("state").textContent = now.state;
  $("state").className = `state ${now.state}`;
  $("heard").textContent = now.heard;
  $("said").textContent = now.said;
  showTimers(now.timers);
  const session = $("session");
  session.hidden = now.session === null;
  session.textContent = now.session === null ? "" : now.session.what;
}

// -- Log ------------------------------------------------------------------------------

async function refreshLog() {
  const mine = ++latest.log;
  let log = await api(`/api/log${exercise ? `?exercise=${encodeURIComponent(exercise)}` : ""}`);
  if (exercise && !log.exercises.includes(exercise)) {  // its last entry was removed
    exercise = "";
    log = await api("/api/log");
  }
  const shown = exercise || (log.days.length ? log.days[0].entries[0].exercise : "");
  const pictures = shown ? [await chart(`/api/chart/volume.svg?exercise=${encodeURIComponent(shown)}`),
    await chart(`/api/chart/best.svg?exercise=${encodeURIComponent(shown)}`)] : [];
  pictures.push(await chart("/api/chart/distance.svg"));
  if (mine !== latest.log) return;
  $("charts").replaceChildren(...pictures);
  const select = $("exercise");
  select.replaceChildren(element("option", "every exercise"));
  select.firstChild.value = "";
  for (const name of log.exercises) {
    const option = element("option", name);
    option.value = name;
    option.selected = name === exercise;
    select.append(option);
  }
  const days = $("days");
  days.replaceChildren();
  if (!log.days.length) {
    days.append(element("p", "Nothing logged in the last 90 days. Say \"log three sets of five squats at 60 kilos\"."));
  }
  for (const day of log.days) {
    const box = element("div", undefined, "day");
    const list = element("ul");
    for (const entry of day.entries) {
      const item = element("li", entry.text);
      item.dataset.entry = entry.id;
      item.append(button("Remove", () => api("/api/log/delete", { id: entry.id })));
      list.append(item);
    }
    box.append(element("h3", day.day), list);
    days.append(box);
  }
}

// -- You ------------------------------------------------------------------------------

async function refreshYou() {
  const mine = ++latest.you;
  const you = await api("/api/you");
  if (mine !== latest.you) return;
  const facts = $("facts");
  facts.replaceChildren();
  for (const fact of you.facts) {
    const item = element("li", fact.text);
    item.dataset.fact = fact.id;
    item.append(button("Forget", () => api("/api/fact/delete", { id: fact.id })));
    facts.append(item);
  }
  const profile = $("profile");
  $("plan").textContent = you.plan || "No plan yet: say \"make me a plan\".";
  if (profile.contains(document.activeElement)) return;  // an answer being edited is not redrawn under the user
  profile.replaceChildren();
  for (const answer of you.profile) {
    const label = element("label", answer.label);
    const input = element("input");
    input.value = answer.value;
    input.name = answer.key;
    label.append(input, button("Save", () => api("/api/profile", { key: answer.key, value: input.value })));
    profile.append(label);
  }
}

// -- Turns ----------------------------------------------------------------------------

async function refreshTurns() {
  const mine = ++latest.turns;
  const turns = await api("/api/turns");
  const picture = await chart("/api/chart/latency.svg");
  if (mine !== latest.turns) return;
  $("percentiles").textContent = turns.p50_ms === null ? "No spoken answers yet."
    : `From the end of speech to the first sound: median ${Math.round(turns.p50_ms)} ms, `
      + `p95 ${Math.round(turns.p95_ms)} ms`;
  $("latency").replaceChildren(picture);
  const list = $("turn-list");
  list.replaceChildren();
  for (const turn of turns.turns.slice().reverse()) {
    const item = element("li", `${turn.heard} — ${turn.reply}`);
    if (turn.first_audio_ms !== null) {
      item.append(element("span", ` (first sound ${Math.round(turn.first_audio_ms)} ms)`, "ms"));
    }
    list.append(item);
  }
}

// -- views and events -------------------------------------------------------------------

const refresh = { now: refreshNow, log: refreshLog, you: refreshYou, turns: refreshTurns };

function current() {
  const wanted = location.hash.slice(1);
  return views.includes(wanted) ? wanted : "now";
}

function show() {
  const view = current();
  for (const name of views) {
    $(name).hidden = name !== view;
    $(`to-${name}`).classList.toggle("here", name === view);
  }
  refresh[view]().catch(report);
}

function report(err) {
  $("link").textContent = String(err.message || err);
}

function whenShown(view, action) {
  if (current() === view) action().catch(report);
}

function listen() {
  const events = new EventSource("/events");
  let lost = false;
  events.onopen = () => {
    $("link").textContent = "live";
    if (lost) show();  // back after an outage (a restart, say): what the page shows may be old
    lost = false;
  };
  events.onerror = () => {
    $("link").textContent = "reconnecting";
    lost = true;
  };
  const on = (name, handle) => events.addEventListener(name, (message) => handle(JSON.parse(message.data).data));
  on("SPEECH_STARTED", () => { $("state").textContent = "hearing"; $("state").className = "state hearing"; });
  on("SPEECH_DETECTED", (data) => {
    $("heard").textContent = data.text;
    $("state").textContent = "thinking";
    $("state").className = "state thinking";
  });
  on("RESPONSE_GENERATING", () => { $("said").textContent = ""; });
  on("RESPONSE_CHUNK", (data) => { $("said").textContent += data.text; });
  on("RESPONSE_GENERATED", (data) => {
    $("said").textContent = data.text;
    whenShown("turns", refreshTurns);
  });
  on("SPEAKING_STARTED", () => {
    $("state").textContent = "speaking";
    $("state").className = "state speaking";
    whenShown("turns", refreshTurns);  // the turn's first sound is known now, after its RESPONSE_GENERATED
  });
  on("SPEAKING_FINISHED", () => { $("state").textContent = "listening"; $("state").className = "state listening"; });
  on("LISTENING", () => { $("state").textContent = "listening"; $("state").className = "state listening"; });
  for (const name of ["TIMER_STARTED", "TIMER_UPDATED", "TIMER_CANCELLED"]) {
    on(name, () => whenShown("now", refreshNow));
  }
  on("TIMER_FINISHED", (data) => finished(data.timer_id));
  on("WORKOUT_LOGGED", () => whenShown("log", refreshLog));
  on("MEMORY_UPDATED", () => whenShown("you", refreshYou));
}

$("exercise").addEventListener("change", (changed) => {
  exercise = changed.target.value;
  refreshLog().catch(report);
});
window.addEventListener("hashchange", show);
show();
listen();

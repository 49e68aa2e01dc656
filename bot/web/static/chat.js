// ScanPass web chat and one-time upload page. Every text shown comes from the page (#strings), rendered
// in the patient's language by the server; messages from the conversation arrive rendered and escaped.
// Uploads speak tus 1.0.0 (create, PATCH at an offset, HEAD to resume) in chunks, so a dropped
// connection costs at most one chunk.
"use strict";
(function () {
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const log = document.getElementById("log");
  const transfers = document.getElementById("transfers");
  const linkPage = document.querySelector("[data-upload-link]");
  const uploadBase = linkPage ? linkPage.dataset.uploadLink : null;
  const CHUNK = 8 * 1024 * 1024;        // bytes per PATCH
  const RETRIES = 12;                   // tries of one chunk before the file is given up
  let repliesSeen = 0;
  let polling = null;
  let handedOff = false;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  }

  // ---- the conversation -------------------------------------------------------------------------
  function show(message, who) {
    const item = document.createElement("div");
    item.className = "msg " + who + (message.kind ? " kind-" + message.kind : "");
    const author = document.createElement("span");
    author.className = "visually-hidden";
    author.textContent = (who === "me" ? strings.you : who === "coordinator" ? strings.coordinator : strings.bot) + ": ";
    item.appendChild(author);
    if (message.html) {
      const laidOut = document.createElement("div");
      laidOut.innerHTML = message.html;    // rendered and escaped on the server
      item.appendChild(laidOut);
    }
    if (message.text) {
      const text = document.createElement("p");
      text.className = "text";
      text.textContent = message.text;
      item.appendChild(text);
    }
    const rows = uploadBase ? [] : (message.buttons || []);
    if (rows.length) {
      const group = document.createElement("div");
      group.className = "buttons";
      for (const row of rows) {
        for (const choice of row) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = choice.label;
          button.dataset.choice = choice.data;
          group.appendChild(button);
        }
      }
      item.appendChild(group);
    }
    log.appendChild(item);
    item.scrollIntoView({block: "end"});
    return item;
  }

  function showAll(messages) {
    let last = null;
    for (const message of messages || []) last = show(message, "bot");
    if (last) {
      // Older questions' buttons would only get a "that was an earlier question" hint: retire them.
      for (const old of log.querySelectorAll(".msg .buttons button")) {
        if (!last.contains(old)) old.disabled = true;
      }
    }
    return last;
  }

  async function api(method, path, body) {
    const options = {method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      activity(strings.offline);
      throw error;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      show({text: answer.message || strings.offline}, "bot problem");
      throw new Error(answer.error || String(response.status));
    }
    return answer;
  }

  async function say(body, shown) {
    if (shown) show({text: shown}, "me");
    const answer = await api("POST", "/api/chat", body);
    take(answer);
    return answer;
  }

  function take(answer) {
    if (answer.locale && answer.locale !== strings.locale) {
      location.reload();            // the page itself changes language (and direction)
      return;
    }
    const last = showAll(answer.messages);
    if (last) {
      const first = last.querySelector(".buttons button");
      if (first && (document.activeElement === document.body || document.activeElement.disabled)) first.focus();
    }
    if (answer.busy) watch(answer.busy);
    else schedule(handedOff ? 5000 : 1500);   // learn whether the case is now with a coordinator, whose replies then arrive
  }

  // ---- progress of the check or a download, coordinators' replies ----------------------------------
  function activity(text, done, total) {
    const box = document.getElementById("activity");
    if (!box) return;
    box.hidden = !text;
    document.getElementById("activity-text").textContent = text || "";
    const bar = document.getElementById("activity-bar");
    if (total) {
      bar.max = total;
      bar.value = done;
    } else {
      bar.removeAttribute("value");
    }
  }

  function watch(busy) {
    if (busy.kind === "check") {
      activity(busy.total ? fill(strings.checking, busy) : strings.checking_start, busy.done, busy.total);
    } else {
      activity(fill(strings.downloading, {mb: Math.floor((busy.done || 0) / 1048576)}), busy.done, busy.total);
    }
    schedule(700);
  }

  function schedule(delay) {
    clearTimeout(polling);
    polling = setTimeout(poll, delay);
  }

  async function poll() {
    let news;
    try {
      news = await api("GET", "/api/updates?replies=" + repliesSeen);
    } catch (error) {
      schedule(3000);
      return;
    }
    for (const reply of news.replies || []) show(reply, "coordinator");
    repliesSeen = news.replies_seen || repliesSeen;
    handedOff = news.handed_off;
    if (news.busy) {
      watch(news.busy);
    } else {
      activity("");
      if (news.messages && news.messages.length) take({locale: news.locale, messages: news.messages});
      if (handedOff) schedule(5000);
    }
  }

  // ---- uploads (tus) -------------------------------------------------------------------------------
  function transferRow(name) {
    const row = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = fill(strings.uploading, {name});
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", name);
    row.append(label, bar);
    transfers.appendChild(row);
    return {row, label, bar};
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      for (const [key, value] of Object.entries(headers)) xhr.setRequestHeader(key, value);
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = xhr.onabort = xhr.ontimeout = () => reject(new Error("network"));
      xhr.send(body === undefined ? null : body);
    });
  }

  function problem(xhr) {
    try {
      return JSON.parse(xhr.responseText).message;
    } catch (error) {
      return null;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function base64(text) {
    return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  }

  async function create(file, name) {
    const key = "scanpass-upload:" + [name, file.size, file.lastModified].join(":");
    const known = localStorage.getItem(key);
    if (known) {
      const head = await request("HEAD", known, {}).catch(() => null);
      if (head && head.status === 200) return {url: known, key, offset: Number(head.getResponseHeader("Upload-Offset"))};
      localStorage.removeItem(key);
    }
    const created = await request("POST", (uploadBase || "/api") + "/uploads", {
      "Upload-Length": String(file.size),
      "Upload-Metadata": "filename " + base64(file.name) + ",relativePath " + base64(name),
    });
    if (created.status !== 201) throw new Refused(problem(created));
    const url = created.getResponseHeader("Location");
    localStorage.setItem(key, url);
    return {url, key, offset: 0};
  }

  class Refused extends Error {     // the server said no for good (its message, in the patient's language)
    constructor(message) { super(message || ""); }
  }

  async function send(file, name, ui) {
    const upload = await create(file, name);
    let offset = upload.offset;
    let failures = 0;
    do {   // an empty file still takes its one (empty) PATCH
      const end = Math.min(offset + CHUNK, file.size);
      const from = offset;
      try {
        const patch = await request("PATCH", upload.url, {
          "Upload-Offset": String(from), "Content-Type": "application/offset+octet-stream",
        }, file.slice(from, end), (loaded) => { ui.bar.value = file.size ? (from + loaded) / file.size : 1; });
        if (patch.status === 204) {
          offset = Number(patch.getResponseHeader("Upload-Offset"));
          failures = 0;
          ui.label.textContent = fill(strings.uploading, {name});
          continue;
        }
        if (patch.status !== 409) throw new Refused(problem(patch));   // refused for good: too large, gone…
      } catch (error) {
        if (error instanceof Refused) throw error;                    // else the connection dropped: resume
      }
      failures += 1;
      if (failures > RETRIES) throw new Refused(null);
      ui.label.textContent = fill(strings.resuming, {name});
      await sleep(Math.min(500 * 2 ** (failures - 1), 8000));
      const head = await request("HEAD", upload.url, {}).catch(() => null);
      if (head && head.status === 200) offset = Number(head.getResponseHeader("Upload-Offset"));
      else if (head && head.status === 404) throw new Refused(null);
      if (offset >= file.size) break;
    } while (offset < file.size);
    ui.bar.value = 1;
    localStorage.removeItem(upload.key);
    const answer = await api("GET", upload.url);
    return {id: upload.url.split("/").pop(), answer};
  }

  async function sendBatch(files) {
    if (!files.length) return;
    const batch = document.createElement("li");
    batch.className = "batch";
    transfers.appendChild(batch);
    const done = [];
    let last = null;
    for (const [index, file] of files.entries()) {
      const name = file.webkitRelativePath || file.relativePath || file.name;
      const ui = transferRow(name);
      batch.textContent = fill(strings.batch, {done: index, total: files.length});
      try {
        const sent = await send(file, name, ui);
        done.push(sent.id);
        ui.label.textContent = fill(strings.uploaded, {name});
        ui.row.remove();
        const messages = sent.answer.messages || [];
        // Each file's problems are shown; the question after a file only for the batch's last one.
        for (const message of messages) {
          if (!message.kind || !message.kind.startsWith("ask_")) show(message, "bot");
        }
        last = sent.answer;
      } catch (error) {
        ui.label.textContent = error.message && error.message !== "network" ? error.message : fill(strings.upload_failed, {name});
        ui.row.classList.add("failed");
      }
    }
    batch.remove();
    if (uploadBase) {
      const result = await api("POST", uploadBase + "/finish", {uploads: done});
      const finished = document.getElementById("finished");
      finished.textContent = strings.finished_upload;
      finished.hidden = false;
      document.querySelector(".composer").hidden = true;
      return result;
    }
    if (last) take({locale: last.locale, messages: (last.messages || []).filter((m) => m.kind && m.kind.startsWith("ask_"))});
  }

  // Folders dropped on the page: walk their entries (a picked folder arrives as files already).
  async function dropped(items) {
    const files = [];
    async function walk(entry, path) {
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        file.relativePath = path + file.name;
        files.push(file);
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        for (;;) {
          const entries = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          if (!entries.length) break;
          for (const child of entries) await walk(child, path + entry.name + "/");
        }
      }
    }
    for (const entry of [...items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean)) {
      await walk(entry, "");
    }
    return files;
  }

  // ---- wiring --------------------------------------------------------------------------------------
  log.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-choice]");
    if (button && !button.disabled) {
      for (const other of button.parentElement.querySelectorAll("button")) other.disabled = true;
      say({button: button.dataset.choice}, button.textContent).catch(() => {
        for (const other of button.parentElement.querySelectorAll("button")) other.disabled = false;
      });
    }
    if (event.target.closest("[data-action=print]")) window.print();
  });

  // The text field and the link field: Enter sends; what was typed comes back if it could not be sent.
  function sends(formId, fieldId) {
    const form = document.getElementById(formId);
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const field = document.getElementById(fieldId);
      const text = field.value.trim();
      if (!text) return;
      field.value = "";
      say({text}, text).catch(() => { field.value = text; });
    });
  }
  sends("say", "message");
  sends("link", "link-url");
  const language = document.getElementById("language");
  if (language) {
    language.addEventListener("change", () => say({language: language.value}));
  }
  for (const picker of document.querySelectorAll("input.picker")) {
    picker.addEventListener("change", () => {
      const files = [...picker.files];
      picker.value = "";
      sendBatch(files);
    });
  }
  const drop = document.querySelector("[data-drop]");
  if (drop) {
    for (const name of ["dragenter", "dragover"]) {
      document.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
    }
    document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) drop.classList.remove("over"); });
    document.addEventListener("drop", async (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const files = event.dataTransfer.items ? await dropped(event.dataTransfer.items) : [...event.dataTransfer.files];
      sendBatch(files);
    });
  }

  if (!uploadBase) {
    say({command: "start"}).then(poll).catch(() => schedule(3000));
  }
})();

// Progressive enhancement: without JavaScript the form posts to "/" and the server renders the result.
(() => {
  const form = document.getElementById("caption-form");
  const fileInput = document.getElementById("file");
  const urlInput = document.getElementById("url");
  const zone = document.getElementById("drop-zone");
  const status = document.getElementById("status");
  const button = document.getElementById("submit");
  const result = document.getElementById("result");
  const preview = document.getElementById("preview");
  const caption = document.getElementById("caption");
  const timing = document.getElementById("timing");
  const rows = document.querySelector("#alternatives tbody");
  const conceptBox = document.getElementById("concepts");
  const conceptList = document.getElementById("concept-list");
  const conceptRules = document.getElementById("concept-rules");
  const heatBox = document.getElementById("heatmaps");
  const heatList = document.getElementById("heatmap-list");

  function item(text, score, cls) {
    const li = document.createElement("li");
    li.textContent = `${text} `;
    const span = document.createElement("span");
    span.textContent = score.toFixed(2);
    li.appendChild(span);
    if (cls) li.className = cls;
    return li;
  }

  function showConcepts(c) {
    conceptBox.hidden = !c;
    if (!c) return;
    conceptList.replaceChildren(
      ...c.imagenet.map((x) => item(x.word, x.score, c.required.includes(x.word) ? "required" : "")),
      ...c.detected.map((x) => {
        const blocked = c.blocked.includes(x.concept);
        const li = item(x.concept, x.score, blocked ? "blocked" : "");
        const reason = (c.blocked_reasons || {})[x.concept];
        if (blocked && reason) {
          const small = document.createElement("small");
          small.textContent = ` ${reason}`;
          li.appendChild(small);
          li.title = `blocked: ${reason}`;
        }
        return li;
      }));
    const more = Math.max(c.blocked.length - 12, 0) + (c.blocked_more || 0);
    const blocked = c.blocked.slice(0, 12).join(", ") + (more ? ` and ${more} more` : "");
    const phrases = Object.keys(c.blocked_phrases || {}).map((p) => `"${p}"`).join(", ");
    conceptRules.textContent = `Must mention: ${c.required.join(", ") || "nothing"} · blocked: ${blocked || "nothing"}` +
      (phrases ? ` · phrases not said: ${phrases}` : "") +
      (c.decoder === "everyday" ? " · an everyday photo: written by the decoder that has also seen COCO's captions" : "");
  }

  // one small canvas per word: the photo, dimmed where the attention grid is low, red where it is high
  function showAttention(attention, image) {
    heatBox.hidden = !attention || !attention.length;
    if (heatBox.hidden) return;
    const side = 160;
    heatList.replaceChildren(...attention.map((a) => {
      const figure = document.createElement("figure");
      figure.className = "heat";
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = side;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `attention for ${a.word}`);
      const ctx = canvas.getContext("2d");
      ctx.drawImage(image, 0, 0, side, side);
      const g = a.grid.length;
      const peak = Math.max(...a.grid.flat(), 1e-8);
      const cell = side / g;
      for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) {
        const v = a.grid[y][x] / peak;
        ctx.fillStyle = `rgba(0,0,0,${0.6 * (1 - v)})`;
        ctx.fillRect(x * cell, y * cell, cell, cell);
        ctx.fillStyle = `rgba(230,30,30,${0.45 * v})`;
        ctx.fillRect(x * cell, y * cell, cell, cell);
      }
      const label = document.createElement("figcaption");
      label.textContent = a.word;
      figure.append(canvas, label);
      return figure;
    }));
  }

  function setStatus(text, isError) {
    status.textContent = "";
    const span = document.createElement("span");
    span.textContent = text;
    if (isError) span.className = "error";
    status.appendChild(span);
  }

  function show(data, imageSrc) {
    preview.src = imageSrc;
    preview.alt = data.caption;
    caption.textContent = data.caption;
    const t = data.timings_ms;
    const model = (t.preprocess + t.encode + t.decode).toFixed(0);
    timing.textContent = `${t.total} ms${data.cached ? ` (from cache; computing it took ${model} ms)` : ` (model ${model} ms)`} · model ${data.model} · encoder ${data.encoder}`;
    rows.replaceChildren(...data.alternatives.map((alt) => {
      const tr = document.createElement("tr");
      const text = document.createElement("td");
      text.textContent = alt.caption;
      const score = document.createElement("td");
      score.textContent = alt.score.toFixed(3);
      tr.append(text, score);
      return tr;
    }));
    showConcepts(data.concepts);
    if (preview.complete && preview.naturalWidth) showAttention(data.attention, preview);
    else preview.onload = () => showAttention(data.attention, preview);
    result.hidden = false;
    setStatus("Done.", false);
  }

  async function send(file) {
    const beam = document.getElementById("beam_size").value;
    const url = urlInput.value.trim();
    const grounding = document.getElementById("grounding").checked;
    let response, imageSrc;
    button.disabled = true;
    setStatus("Captioning…", false);
    try {
      if (file) {
        const body = new FormData();
        body.append("file", file);
        body.append("beam_size", beam);
        body.append("grounding", grounding);
        imageSrc = URL.createObjectURL(file);
        response = await fetch("/api/caption", { method: "POST", body });
      } else if (url) {
        imageSrc = url;
        response = await fetch("/api/caption-url", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ url, beam_size: Number(beam), grounding }),
        });
      } else {
        setStatus("Choose an image file or paste an image URL.", true);
        return;
      }
      const data = await response.json();
      if (!response.ok) {
        const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
        setStatus(`Error: ${detail}`, true);
        return;
      }
      show(data, imageSrc);
    } catch (err) {
      setStatus(`Error: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  // what the person did last wins: typing a URL (and pressing Enter) captions the URL, not a file
  // chosen earlier; choosing a file clears the URL
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (urlInput.value.trim()) {
      fileInput.value = "";
      send(null);
    } else {
      send(fileInput.files[0] || null);
    }
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files[0]) {
      urlInput.value = "";
      send(fileInput.files[0]);
    }
  });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) {
      urlInput.value = "";
      send(file);
    }
  });
})();

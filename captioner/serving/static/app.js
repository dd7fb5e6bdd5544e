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
    result.hidden = false;
    setStatus("Done.", false);
  }

  async function send(file) {
    const beam = document.getElementById("beam_size").value;
    const url = urlInput.value.trim();
    let response, imageSrc;
    button.disabled = true;
    setStatus("Captioning…", false);
    try {
      if (file) {
        const body = new FormData();
        body.append("file", file);
        body.append("beam_size", beam);
        imageSrc = URL.createObjectURL(file);
        response = await fetch("/api/caption", { method: "POST", body });
      } else if (url) {
        imageSrc = url;
        response = await fetch("/api/caption-url", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ url, beam_size: Number(beam) }),
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

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(fileInput.files[0] || null);
  });
  fileInput.addEventListener("change", () => { if (fileInput.files[0]) send(fileInput.files[0]); });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) send(file);
  });
})();

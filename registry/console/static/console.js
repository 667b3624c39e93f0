// The console's only script (served by the app; CSP allows no inline script): keyboard shortcuts on the
// review screens and a progress bar for the JSON Lines upload. Every page works without it.
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  // Buttons carrying data-key="x" are pressed by the key x (outside text fields).
  document.addEventListener("keydown", function (event) {
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var button = document.querySelector('[data-key="' + event.key + '"]');
    if (button) { event.preventDefault(); button.click(); return; }
    var table = document.querySelector("[data-keynav]");
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tr[data-href]"));
    if (!rows.length) { return; }
    var at = rows.findIndex(function (r) { return r.classList.contains("current"); });
    if (event.key === "j" || event.key === "k") {
      if (at >= 0) { rows[at].classList.remove("current"); }
      at = event.key === "j" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
      rows[at].classList.add("current");
      rows[at].scrollIntoView({ block: "nearest" });
    } else if (event.key === "Enter" && at >= 0) {
      window.location.href = rows[at].getAttribute("data-href");
    }
  });

  // Upload with a progress bar; the server's answer (the per-line report) replaces the page.
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      event.preventDefault();
      var bar = document.getElementById(form.getAttribute("data-progress"));
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      if (bar) {
        bar.hidden = false;
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) { bar.value = Math.round((100 * e.loaded) / e.total); }
        });
      }
      xhr.addEventListener("load", function () {
        if (bar) { bar.value = 100; }
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.send(new FormData(form));
    });
  });
})();

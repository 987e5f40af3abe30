// meshlake console: a little behaviour of our own (the pages work without it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Buttons that undo something ask first.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // The SQL editor runs on Ctrl+Enter (Cmd+Enter on a Mac).
  const sql = document.querySelector("textarea[name=sql]");
  if (sql) {
    sql.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        sql.form.requestSubmit();
      }
    });
  }
  // Inbox: one box ticks every event.
  const all = document.querySelector("input[data-check-all]");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input[name=ids]").forEach((box) => { box.checked = all.checked; });
    });
  }
  // History: a click on a past query puts it back into the editor.
  document.querySelectorAll("[data-sql]").forEach((link) => {
    link.addEventListener("click", (event) => {
      if (!sql) return;
      event.preventDefault();
      sql.value = link.dataset.sql;
      sql.focus();
    });
  });
});

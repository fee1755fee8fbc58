// Sends the pairing code; the answer's cookie lets this browser see the coach's page.
"use strict";

document.getElementById("pair").addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const response = await fetch("/pair", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: document.getElementById("code").value }),
  });
  if (response.ok) {
    location.assign("/");
    return;
  }
  document.getElementById("said").textContent = (await response.json()).error;
});

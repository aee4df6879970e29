/* A ticket's page, for hotline staff: the tickets it may repeat (重复件), with their reasons, read from
 * GET /api/tickets/{number}/duplicates/ when the page opens, and a button that merges this ticket into one of them
 * (POST …/merge/); after a merge the page is read again, so that its status and timeline show it.
 */
(function () {
  "use strict";

  var panel = document.getElementById("ticket-duplicates");
  if (!panel || !window.HotlineDuplicates) return;
  var box = panel.querySelector(".duplicates");
  var said = panel.querySelector("[data-duplicates-status]");
  var texts = box.dataset;
  var csrf = panel.querySelector("[name=csrfmiddlewaretoken]");
  // Where this ticket may still be merged into another (the lifecycle's merge).
  var MERGEABLE = ["draft", "registered", "returned", "dispatched", "accepted", "reopened"];

  function say(text) {
    said.textContent = text || "";
    said.hidden = !text;
  }

  function read(response) {
    return response
      .json()
      .catch(function () {
        return null;
      })
      .then(function (data) {
        return { ok: response.ok, data: data };
      });
  }

  function failed(result) {
    var detail = (result && result.data && result.data.error) || {};
    return detail.message || texts.network;
  }

  function load() {
    box.setAttribute("aria-busy", "true");
    fetch(panel.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(read)
      .then(
        function (result) {
          box.removeAttribute("aria-busy");
          if (!result.ok) {
            HotlineDuplicates.message(box, HotlineDuplicates.format(texts.failed, { message: failed(result) }), "error");
            return;
          }
          HotlineDuplicates.render(box, result.data, {
            texts: texts,
            ticketUrl: function (number) {
              return panel.dataset.ticketUrl.replace(/\/0\/$/, "/" + encodeURIComponent(number) + "/");
            },
            canMerge: MERGEABLE.indexOf(panel.dataset.status) >= 0,
            onMerge: merge,
          });
        },
        function () {
          box.removeAttribute("aria-busy");
          HotlineDuplicates.message(box, HotlineDuplicates.format(texts.failed, { message: texts.network }), "error");
        },
      );
  }

  function merge(main, button) {
    button.setAttribute("aria-disabled", "true");
    say(HotlineDuplicates.format(texts.merging, { number: panel.dataset.number, into: main.number }));
    fetch(panel.dataset.mergeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrf ? csrf.value : "",
      },
      body: JSON.stringify({ into: main.number }),
    })
      .then(read)
      .then(
        function (result) {
          if (result.ok) {
            window.location.reload();
            return;
          }
          button.removeAttribute("aria-disabled");
          say(HotlineDuplicates.format(texts.refused, { message: failed(result) }));
        },
        function () {
          button.removeAttribute("aria-disabled");
          say(HotlineDuplicates.format(texts.refused, { message: texts.network }));
        },
      );
  }

  load();
})();

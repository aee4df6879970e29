/* Supervision page, live: the counts by status follow every change; the lists below still come
 * with the page (the wallboard replaces them). Extension point: HotlineLive.current.on(...) or the
 * snapshot's other parts (data.tickets.overdue, .returned, .extensions and those apps register).
 */
(function () {
  "use strict";

  if (!window.HotlineLive) return;
  var tiles = {};
  Array.prototype.forEach.call(document.querySelectorAll(".tile[data-status]"), function (tile) {
    tiles[tile.dataset.status] = tile.querySelector("dd");
  });

  function set(status, count) {
    if (tiles[status]) tiles[status].textContent = String(count);
  }

  function bump(status, by) {
    if (tiles[status]) set(status, Number(tiles[status].textContent) + by);
  }

  HotlineLive.connect({
    view: "supervisor",
    onSnapshot: function (data) {
      var counts = data.tickets.status_counts;
      for (var status in counts) set(status, counts[status]);
    },
    onEvent: function (name, payload) {
      // Lifecycle events (ticket.<action>) move one ticket from `from` to `status`; other ticket
      // events (reminders, escalations, flags) change no count.
      if (!payload || name !== "ticket." + payload.action || payload.from === payload.status) return;
      bump(payload.from, -1);
      bump(payload.status, 1);
    },
  });
})();

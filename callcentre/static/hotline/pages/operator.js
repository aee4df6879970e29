/* Operator desk, live: for now the connection itself (the banner says when the page is stale).
 * Extension points for the console: the screen pop arrives on the operator's own stream
 * (HotlineLive.current.on("call.answer", ...)), the snapshot's data.tickets holds the drafts and
 * recently registered tickets, and other apps add snapshot parts (dashboards/snapshots.py).
 */
(function () {
  "use strict";

  if (!window.HotlineLive) return;
  HotlineLive.connect({ view: "operator" });
})();

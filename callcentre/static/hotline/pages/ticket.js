/* The ticket page for its department, live: when an event about this ticket arrives (or a snapshot, after
 * a reconnect), the page is read again and its live part ([data-ticket-live]: status, actions, facts,
 * assisting input, timeline) put in place, so the timeline grows as the ticket moves. The department's
 * actions go through the API (department-actions.js); afterwards the page is read again the same way.
 */
(function () {
  "use strict";

  var region = document.querySelector("[data-ticket-live]");
  if (!region || !window.HotlineLive || !window.HotlineDepartmentActions) return;
  var number = region.dataset.ticket;
  var texts = { gone: region.dataset.gone, changed: region.dataset.changed };
  var statusLine = document.getElementById("ticket-status");
  var loading = false;
  var again = false;
  var announce = false;
  var ownAction = 0; // when this page last acted: the event that follows is ours, not news

  HotlineLive.connect({
    view: "department",
    onSnapshot: function () {
      reload(false); // events may have been missed while the page loaded or the socket was down
    },
    onEvent: function (name, payload) {
      if (payload && payload.ticket === number) reload(Date.now() - ownAction > 5000);
    },
  });

  HotlineDepartmentActions.attach({
    root: region,
    row: function () {
      var data = region.querySelector("#ticket-row");
      try {
        return data ? JSON.parse(data.textContent) : null;
      } catch (error) {
        return null;
      }
    },
    say: say,
    done: function () {
      ownAction = Date.now();
      reload(false);
    },
  });

  // Read the page again and put its live part in place; one read at a time, the last change always shown.
  function reload(changed) {
    announce = announce || changed;
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          gone();
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-ticket-live]");
        if (!fresh) return;
        var focused = focusKey();
        region.innerHTML = fresh.innerHTML;
        restoreFocus(focused);
        if (announce) say("info", fill(texts.changed, { number: number }));
        announce = false;
      })
      .catch(function () {
        /* the next event or snapshot tries again */
      })
      .then(function () {
        loading = false;
        if (again) {
          again = false;
          reload(false);
        }
      });
  }

  // The department no longer sees the ticket (returned, reassigned): say so and offer nothing to do.
  function gone() {
    region.querySelectorAll("button[data-action]").forEach(function (button) {
      button.remove();
    });
    say("info", texts.gone);
  }

  function focusKey() {
    var active = document.activeElement;
    if (!active || !region.contains(active)) return null;
    if (active.dataset && active.dataset.action) return '[data-action="' + active.dataset.action + '"]';
    return active.id ? "#" + active.id : null;
  }

  function restoreFocus(key) {
    if (key === null) return;
    var target = (key && region.querySelector(key)) || region.querySelector("button[data-action]");
    if (target) target.focus();
    else {
      var heading = document.getElementById("actions-title");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    }
  }

  function say(kind, message) {
    if (!statusLine) return;
    statusLine.dataset.kind = kind;
    statusLine.textContent = message;
  }

  function fill(template, values) {
    return HotlineDepartmentActions.fill(template, values);
  }
})();

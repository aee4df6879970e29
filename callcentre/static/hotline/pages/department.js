/* Department inbox (承办单位), live: tickets dispatched to the department arrive without a reload, rows
 * follow their ticket and leave when it is closed or returned; deadlines count down every second; the
 * tabs filter by status; accept, return, extension, reply and assisting input go through the API
 * (department-actions.js). The snapshot's rows (data.inbox.rows) and GET /department/rows/<number>/ give
 * the same row, so one renderer draws both; it draws what dashboards/_inbox_row.html draws.
 * Hooks for tests: #inbox, tr[data-ticket][data-status], button[data-action], #inbox-status.
 */
(function () {
  "use strict";

  var body = document.querySelector("[data-inbox-rows]");
  if (!body || !window.HotlineLive) return;
  var texts = document.getElementById("inbox-texts").dataset;
  var config = body.dataset;
  var statusLine = document.getElementById("inbox-status");
  var empty = document.querySelector("[data-inbox-empty]");
  var filterEmpty = document.querySelector("[data-filter-empty]");
  var more = document.querySelector("[data-inbox-more]");
  var filterButtons = Array.prototype.slice.call(document.querySelectorAll("[data-filter]"));
  var terminal = (config.terminal || "").split(" ");
  var language = document.documentElement.lang || undefined;
  var WITH_DEPARTMENT = ["dispatched", "accepted", "extension_requested", "reopened"];
  var TO_ACCEPT = ["dispatched", "reopened"];
  var WARN_SHARE = 0.2;

  var rows = {}; // number -> the row's data (snapshot or row endpoint), once known
  var hidden = Number(config.hidden) || 0; // open tickets beyond the ones the inbox holds
  var offset = config.now ? Date.parse(config.now) - Date.now() : 0; // server clock - this computer's
  var filter = "all";
  var fetching = {}; // number -> token of the latest row request, so an older answer never wins

  var live = HotlineLive.connect({
    view: "department",
    onSnapshot: function (data, snapshot) {
      if (snapshot && snapshot.now) offset = Date.parse(snapshot.now) - Date.now();
      var inbox = data.inbox;
      hidden = Math.max(0, (inbox.total || 0) - inbox.rows.length);
      reconcile(inbox.rows);
    },
    onEvent: function (name, payload) {
      if (name.indexOf("ticket.") !== 0 || !payload || !payload.ticket) return;
      if (terminal.indexOf(payload.status) >= 0) remove(payload.ticket, true);
      else refresh(payload.ticket);
    },
  });

  HotlineDepartmentActions.attach({
    root: body,
    row: function (number) {
      var tr = find(number);
      return rows[number] || (tr ? { number: number, deadline: tr.dataset.deadline || null } : null);
    },
    say: say,
    done: function (number, action, result) {
      if (action === "return") {
        remove(number, false); // no longer ours: the API would answer 404 from now on
        return;
      }
      if (action !== "assist" && result && result.number === number && rows[number]) {
        // Show the API's answer at once; the row read below (and the event) fill in the rest.
        var merged = Object.assign({}, rows[number]);
        ["status", "status_display", "version", "deadline", "extension_until", "overdue", "updated_at"].forEach(
          function (key) {
            if (key in result) merged[key] = result[key];
          },
        );
        if (TO_ACCEPT.indexOf(merged.status) < 0) merged.accept_by = null;
        upsert(merged, false);
      } else if (action === "accept") {
        setStatus(number, "accepted"); // the row's data is not known yet (no snapshot): its status is
      }
      refresh(number);
    },
  });

  // Rows --------------------------------------------------------------------------------------

  // The row as the server has it now (scoped to this department: 404 once it is not in the inbox).
  function refresh(number) {
    var token = (fetching[number] || 0) + 1;
    fetching[number] = token;
    fetch(withNumber(config.rowUrl, number), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (fetching[number] !== token) return; // a later request for this ticket answers
        delete fetching[number];
        if (!data || !data.row) remove(number, true);
        else upsert(data.row, true);
      })
      .catch(function () {
        if (fetching[number] === token) delete fetching[number];
        live.resync(); // the row could not be read: take the whole inbox again
      });
  }

  // Keep rows that did not change (same version), redraw the others, in the snapshot's order.
  function reconcile(list) {
    var keep = {};
    var focused = focusInside();
    list.forEach(function (row) {
      var existing = find(row.number);
      var tr = existing && existing.dataset.version === String(row.version) ? existing : render(row, false);
      rows[row.number] = row;
      keep[row.number] = true;
      body.appendChild(tr); // moves an existing row into place
    });
    Array.prototype.slice.call(body.rows).forEach(function (tr) {
      if (!keep[tr.dataset.ticket]) {
        delete rows[tr.dataset.ticket];
        tr.remove();
      }
    });
    restoreFocus(focused);
    update();
  }

  function upsert(row, fromServer) {
    var known = rows[row.number];
    // An answer older than what the row shows (a slow read overtaken by an action's answer) is dropped.
    if (fromServer && known && Number(known.version) > Number(row.version)) return;
    var existing = find(row.number);
    var focused = focusInside();
    rows[row.number] = row;
    var tr = render(row, !existing);
    if (existing) {
      existing.replaceWith(tr);
      // A new deadline (an approved extension) moves the row.
      if ((existing.dataset.deadline || "") !== (tr.dataset.deadline || "")) {
        body.insertBefore(tr, laterThan(row.deadline, tr));
      }
    } else {
      body.insertBefore(tr, laterThan(row.deadline, null));
      say("info", fill(texts.arrived, { number: row.number }));
    }
    restoreFocus(focused);
    update();
  }

  function remove(number, announce) {
    var existing = find(number);
    delete rows[number];
    if (!existing) return;
    var focused = existing.contains(document.activeElement);
    var next = existing.nextElementSibling || existing.previousElementSibling;
    existing.remove();
    if (announce) say("info", fill(texts.gone, { number: number }));
    if (focused) {
      // Keep the keyboard in the list: the next row's first control, else the list itself.
      var target = next ? next.querySelector("button, a") : null;
      (target || document.querySelector(".inbox-wrap")).focus();
    }
    update();
  }

  function setStatus(number, status) {
    var tr = find(number);
    if (!tr) return;
    tr.dataset.status = status;
    var accept = tr.querySelector('button[data-action="accept"]');
    if (accept) accept.remove();
  }

  function render(row, arriving) {
    var tr = document.createElement("tr");
    var lead = !!row.is_lead;
    tr.id = "inbox-row-" + row.number;
    tr.className = "inbox-row";
    tr.dataset.ticket = row.number;
    tr.dataset.number = row.number;
    tr.dataset.version = String(row.version);
    tr.dataset.status = row.status;
    tr.dataset.role = lead ? "lead" : "assisting";
    tr.dataset.deadline = row.deadline || "";
    tr.dataset.windowStart = row.window_start || "";
    tr.dataset.acceptBy = row.accept_by || "";
    if (row.overdue) tr.classList.add("is-overdue");
    if (arriving) tr.classList.add("is-new");

    var numberCell = cell(tr, "th", texts.labelNumber, "num");
    numberCell.scope = "row";
    var link = element("a", "", null);
    link.id = "inbox-number-" + row.number;
    link.href = withNumber(config.ticketUrl, row.number);
    link.textContent = row.number;
    numberCell.appendChild(link);
    if (row.urgency === "urgent") add(numberCell, element("span", row.urgency_display, "badge badge-danger"));
    add(numberCell, field("kind", row.kind_display || "—", "inbox-note"));

    var matter = cell(tr, "td", texts.labelTitle, "inbox-title");
    matter.appendChild(element("span", row.title || "—", "inbox-subject"));
    var where = element("span", "", "inbox-note");
    where.appendChild(field("category", row.category_name || "—"));
    where.appendChild(document.createTextNode(" · "));
    where.appendChild(field("district", row.district_name || "—"));
    add(matter, where);

    var part = cell(tr, "td", texts.labelPart, "inbox-part");
    add(part, element("span", lead ? texts.lead : texts.assisting, lead ? "badge badge-lead" : "badge badge-assisting"));
    var assisting = row.assisting || [];
    if (assisting.length) add(part, element("span", texts.joint, "badge badge-joint"));
    var actions = actionsFor(row);
    if (lead) {
      var missing = names(row.assist_missing);
      if (missing) add(part, element("span", texts.waitingFor + " " + missing, "inbox-note is-warn"));
      else if (assisting.length) add(part, element("span", texts.allInput, "inbox-note"));
    } else {
      add(part, element("span", texts.leadIs + " " + (row.lead_department_name || "—"), "inbox-note"));
      if (row.input_given) add(part, element("span", texts.inputGiven, "inbox-note"));
      else if (actions.length) add(part, element("span", texts.inputAwaited, "inbox-note is-warn"));
    }

    var status = cell(tr, "td", texts.labelStatus);
    var badge = element("span", row.status_display, "badge badge-status");
    badge.setAttribute("data-status-label", "");
    status.appendChild(badge);
    if (row.status === "extension_requested" && row.extension_until) {
      add(status, element("span", fill(texts.extension, { until: formatDate(row.extension_until) }), "inbox-note is-warn"));
    }

    var due = cell(tr, "td", texts.labelDeadline, "inbox-due");
    due.appendChild(element("span", row.deadline ? formatDate(row.deadline) : "—", "inbox-date"));
    if (row.deadline && WITH_DEPARTMENT.indexOf(row.status) >= 0) add(due, countdownElement("deadline"));
    if (row.accept_by && lead) {
      var acceptBy = element("span", "", "inbox-accept-by");
      acceptBy.appendChild(element("span", texts.acceptBy, "inbox-note"));
      add(acceptBy, element("span", formatDate(row.accept_by), "inbox-date"));
      add(acceptBy, countdownElement("accept"));
      add(due, acceptBy);
    }

    var buttons = cell(tr, "td", texts.labelActions, "inbox-actions");
    actions.forEach(function (action) {
      var button = element("button", texts["action" + capital(action)], action === "return" || action === "extend" ? "button-quiet" : null);
      button.type = "button";
      button.dataset.action = action;
      button.dataset.number = row.number;
      button.setAttribute("aria-describedby", "inbox-number-" + row.number);
      if (action !== "accept") button.setAttribute("aria-haspopup", "dialog");
      add(buttons, button);
    });
    if (!actions.length) buttons.appendChild(element("span", "—", "empty"));

    tick(tr, now());
    return tr;
  }

  // The same table as dashboards.inbox.inbox_actions; the API has the last word.
  function actionsFor(row) {
    if (!row.is_lead) return WITH_DEPARTMENT.indexOf(row.status) >= 0 ? ["assist"] : [];
    if (TO_ACCEPT.indexOf(row.status) >= 0) return ["accept", "return"];
    if (row.status === "accepted") return ["reply", "extend", "return"];
    return [];
  }

  // Countdowns -----------------------------------------------------------------------------------

  function countdownElement(kind) {
    var span = element("span", "", "countdown");
    span.dataset.countdown = kind;
    return span;
  }

  function tick(tr, at) {
    var overdue = false;
    tr.querySelectorAll("[data-countdown]").forEach(function (span) {
      var deadline = span.dataset.countdown === "deadline";
      var due = Date.parse(deadline ? tr.dataset.deadline : tr.dataset.acceptBy);
      if (isNaN(due)) return;
      var start = deadline ? Date.parse(tr.dataset.windowStart) : NaN;
      var state = countdown(due, at, start);
      if (span.dataset.state !== state.state) span.dataset.state = state.state;
      if (span.textContent !== state.text) span.textContent = state.text;
      if (deadline && state.state === "overdue") overdue = true;
    });
    tr.classList.toggle("is-overdue", overdue);
    return overdue;
  }

  function countdown(due, at, start) {
    var left = (due - at) / 1000;
    if (left < 0) return { state: "overdue", text: fill(texts.overdueBy, { duration: duration(left) }) };
    var window = isNaN(start) ? 0 : (due - start) / 1000;
    return {
      state: window > 0 && left < WARN_SHARE * window ? "warn" : "ok",
      text: fill(texts.left, { duration: duration(left) }),
    };
  }

  // Two units, the largest first, as dashboards.inbox.duration_text writes them.
  function duration(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    if (days) return fill(texts.dh, { d: days, h: hours });
    if (hours) return fill(texts.hm, { h: hours, m: minutes });
    return fill(texts.ms, { m: minutes, s: seconds % 60 });
  }

  function now() {
    return Date.now() + offset;
  }

  // Every second: the countdowns, then the overdue count.
  window.setInterval(function () {
    var at = now();
    var overdue = 0;
    Array.prototype.forEach.call(body.rows, function (tr) {
      if (tick(tr, at)) overdue += 1;
    });
    summarise(overdue);
  }, 1000);

  // Counts, filters, the empty states -------------------------------------------------------------

  function update() {
    var at = now();
    var overdue = 0;
    Array.prototype.forEach.call(body.rows, function (tr) {
      if (tick(tr, at)) overdue += 1;
    });
    summarise(overdue);
    applyFilter();
  }

  function summarise(overdue) {
    var open = body.rows.length + hidden;
    var count = document.querySelector("[data-count-open]");
    var text = fill(open === 1 ? texts.openOne : texts.openMany, { n: open });
    if (count && count.textContent !== text) count.textContent = text;
    var late = document.querySelector("[data-count-overdue]");
    if (late) {
      late.hidden = !overdue;
      var lateText = fill(texts.overdueCount, { n: overdue });
      var inner = late.querySelector(".overdue");
      if (inner && inner.textContent !== lateText) inner.textContent = lateText;
    }
    if (more) more.hidden = !hidden;
  }

  function applyFilter() {
    var shown = 0;
    filterButtons.forEach(function (button) {
      var statuses = (button.dataset.statuses || "").split(" ").filter(Boolean);
      var count = 0;
      Array.prototype.forEach.call(body.rows, function (tr) {
        var match = !statuses.length || statuses.indexOf(tr.dataset.status) >= 0;
        if (match) count += 1;
        if (button.dataset.filter === filter) {
          tr.hidden = !match;
          if (match) shown += 1;
        }
      });
      var badge = button.querySelector("[data-filter-count]");
      if (badge) badge.textContent = String(count);
      button.setAttribute("aria-pressed", button.dataset.filter === filter ? "true" : "false");
    });
    var none = body.rows.length === 0;
    empty.hidden = !none;
    filterEmpty.hidden = none || shown > 0;
  }

  filterButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      filter = button.dataset.filter;
      applyFilter();
    });
  });

  // Helpers --------------------------------------------------------------------------------------

  function say(kind, message) {
    if (!statusLine) return;
    statusLine.dataset.kind = kind;
    statusLine.textContent = message;
  }

  // Which control had the focus inside a row, to give it back after the row is drawn again.
  function focusInside() {
    var active = document.activeElement;
    var tr = active && active.closest ? active.closest("tr[data-ticket]") : null;
    if (!tr || !body.contains(tr)) return null;
    return { number: tr.dataset.ticket, action: active.dataset ? active.dataset.action : null };
  }

  function restoreFocus(focused) {
    if (!focused) return;
    var tr = find(focused.number);
    if (!tr || tr.contains(document.activeElement)) return;
    var target =
      (focused.action && tr.querySelector('button[data-action="' + focused.action + '"]')) ||
      tr.querySelector("button[data-action]") ||
      tr.querySelector("a");
    if (target) target.focus();
  }

  function find(number) {
    for (var i = 0; i < body.rows.length; i++) if (body.rows[i].dataset.ticket === number) return body.rows[i];
    return null;
  }

  // The inbox is sorted by deadline, nearest first, tickets without one last.
  function laterThan(deadline, self) {
    if (!deadline) return null;
    var due = Date.parse(deadline);
    for (var i = 0; i < body.rows.length; i++) {
      var tr = body.rows[i];
      if (tr === self) continue;
      var other = tr.dataset.deadline;
      if (other === "" || Date.parse(other) > due) return tr;
    }
    return null;
  }

  function cell(tr, tag, label, className) {
    var td = element(tag, "", className);
    td.dataset.label = label || "";
    tr.appendChild(td);
    return td;
  }

  function field(name, text, className) {
    var span = element("span", text, className);
    span.dataset.field = name;
    return span;
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // A child after a space, as the template's markup has them.
  function add(parent, child) {
    if (parent.childNodes.length) parent.appendChild(document.createTextNode(" "));
    parent.appendChild(child);
  }

  function names(departments) {
    return (departments || [])
      .map(function (d) {
        return d.name;
      })
      .join(", ");
  }

  function capital(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  function withNumber(url, number) {
    return HotlineDepartmentActions.withNumber(url, number);
  }

  function fill(template, values) {
    return HotlineDepartmentActions.fill(template, values);
  }

  function formatDate(iso) {
    // In the hotline's time zone, as the page shows its other times, whatever the computer's.
    return new Date(iso).toLocaleString(language, { dateStyle: "short", timeStyle: "short", timeZone: texts.timeZone });
  }

  update();
})();

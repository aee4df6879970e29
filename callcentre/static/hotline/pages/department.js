/* Department inbox, live: tickets dispatched to the department appear without a reload, rows
 * follow their ticket's status and leave when it is closed. The snapshot (data.inbox.rows) and
 * the API's ticket share their keys, so one renderer draws both. Extension point for the full
 * inbox (countdowns, actions): HotlineLive.current.on("ticket.<action>", ...) or edit render().
 */
(function () {
  "use strict";

  var body = document.querySelector("[data-inbox-rows]");
  if (!body || !window.HotlineLive) return;
  var table = document.querySelector("[data-inbox-table]");
  var empty = document.querySelector("[data-inbox-empty]");
  var config = body.dataset;
  var texts = table.querySelector("table").dataset; // timeZone and translated labels (textLead, textAssisting, textOverdue, textUrgent)
  var departmentId = Number(config.department);
  var terminal = (config.terminal || "").split(" ");
  var language = document.documentElement.lang || undefined;

  var live = HotlineLive.connect({
    view: "department",
    onSnapshot: function (data) {
      reconcile(data.inbox.rows);
    },
    onEvent: function (name, payload) {
      if (name.indexOf("ticket.") !== 0 || !payload || !payload.ticket) return;
      if (terminal.indexOf(payload.status) >= 0) remove(payload.ticket);
      else refresh(payload.ticket, name === "ticket.dispatch");
    },
  });

  // The ticket as the API gives it (scoped to this department: 404 once it is not ours).
  function refresh(number, arriving) {
    var url = withNumber(config.apiUrl, number);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (ticket) {
        if (!ticket || terminal.indexOf(ticket.status) >= 0) remove(number);
        else upsert(ticket, arriving);
      })
      .catch(function () {
        live.resync(); // the row could not be read: take the whole inbox again
      });
  }

  // Keep rows that did not change (same version), redraw the others, in the snapshot's order.
  function reconcile(rows) {
    var keep = {};
    rows.forEach(function (row) {
      var existing = find(row.number);
      var tr = existing && existing.dataset.version === String(row.version) ? existing : render(row, false);
      keep[row.number] = true;
      body.appendChild(tr); // moves an existing row into place
    });
    Array.prototype.slice.call(body.rows).forEach(function (tr) {
      if (!keep[tr.dataset.number]) tr.remove();
    });
    toggleEmpty();
  }

  function upsert(ticket, arriving) {
    var existing = find(ticket.number);
    var tr = render(ticket, arriving && !existing);
    if (existing) existing.replaceWith(tr);
    else body.insertBefore(tr, firstLaterThan(ticket.deadline));
    toggleEmpty();
  }

  function remove(number) {
    var existing = find(number);
    if (existing) existing.remove();
    toggleEmpty();
  }

  function render(ticket, arriving) {
    var tr = document.createElement("tr");
    tr.dataset.number = ticket.number;
    tr.dataset.version = String(ticket.version);
    tr.dataset.deadline = ticket.deadline || "";
    if (ticket.overdue) tr.classList.add("is-overdue");
    if (arriving) tr.classList.add("is-new");

    var numberCell = cell(tr, "", "num");
    var link = document.createElement("a");
    link.href = withNumber(config.ticketUrl, ticket.number);
    link.textContent = ticket.number;
    numberCell.appendChild(link);
    if (ticket.urgency === "urgent") {
      numberCell.appendChild(document.createTextNode(" "));
      numberCell.appendChild(badge(ticket.urgency_display || texts.textUrgent, "badge badge-danger"));
    }
    cell(tr, ticket.kind_display);
    cell(tr, "").appendChild(badge(ticket.status_display, "badge"));
    var lead = ticket.lead_department === departmentId;
    cell(tr, "").appendChild(
      badge(lead ? texts.textLead : texts.textAssisting, lead ? "badge badge-lead" : "badge"),
    );
    cell(tr, ticket.title || "—");
    cell(tr, ticket.deadline ? formatDate(ticket.deadline) : "—");
    var left = cell(tr, "");
    if (ticket.overdue) {
      var overdue = document.createElement("span");
      overdue.className = "overdue";
      overdue.textContent = texts.textOverdue;
      left.appendChild(overdue);
    } else {
      left.textContent = ticket.deadline ? timeLeft(ticket.deadline) : "—";
    }
    return tr;
  }

  // The page gives URLs for ticket "0"; put the number in its place.
  function withNumber(url, number) {
    return url.replace(/\/0\/$/, "/" + encodeURIComponent(number) + "/");
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function badge(text, className) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  }

  function find(number) {
    for (var i = 0; i < body.rows.length; i++) if (body.rows[i].dataset.number === number) return body.rows[i];
    return null;
  }

  // The inbox is sorted by deadline, nearest first, tickets without one last.
  function firstLaterThan(deadline) {
    if (!deadline) return null;
    var due = Date.parse(deadline);
    for (var i = 0; i < body.rows.length; i++) {
      var other = body.rows[i].dataset.deadline;
      if (other === "" || (other && Date.parse(other) > due)) return body.rows[i];
    }
    return null;
  }

  function toggleEmpty() {
    var none = body.rows.length === 0;
    table.hidden = none;
    empty.hidden = !none;
  }

  function formatDate(iso) {
    // In the hotline's time zone, as the page shows its other times, whatever the computer's.
    return new Date(iso).toLocaleString(language, { dateStyle: "short", timeStyle: "short", timeZone: texts.timeZone });
  }

  function timeLeft(iso) {
    var minutes = Math.round((Date.parse(iso) - Date.now()) / 60000);
    var format = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
    if (Math.abs(minutes) < 60) return format.format(minutes, "minute");
    if (Math.abs(minutes) < 48 * 60) return format.format(Math.round(minutes / 60), "hour");
    return format.format(Math.round(minutes / 1440), "day");
  }
})();

/* The department's actions on a ticket, shared by the inbox and the ticket page: accept (签收) at once,
 * return (退单), request an extension (延期申请), reply (办结回复) and give assisting input (联办) through
 * a dialog. Everything goes through the API (POST /api/tickets/<number>/<action>/): a refusal shows the
 * API's message (and each field's under the field) and changes nothing on the page.
 *
 *   HotlineDepartmentActions.attach({
 *     root: element,                      // clicks on its button[data-action] start an action
 *     row: function (number) { ... },     // what the page knows of the ticket (deadline, assist_missing …)
 *     say: function (kind, text) { ... }, // the page's status line; kind: busy | ok | error
 *     done: function (number, action, ticket) { ... },  // after success, with the API's ticket (or input)
 *   });
 *
 * Markup and texts: dashboards/_department_dialogs.html.
 */
(function () {
  "use strict";

  var config = document.querySelector("[data-department-actions]");
  if (!config) return;
  var texts = config.dataset;
  var language = document.documentElement.lang || undefined;
  var csrf = document.querySelector("[data-department-csrf] [name=csrfmiddlewaretoken]");

  // action -> the endpoint under /api/tickets/<number>/, and the dialog (none: at once).
  var ENDPOINTS = {
    accept: "accept/",
    return: "return/",
    extend: "request-extension/",
    reply: "reply/",
    assist: "assist/",
  };

  function attach(options) {
    var current = null; // {action, number, dialog, opener}
    var sending = {}; // number -> true while a request for it is on its way

    options.root.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-action]") : null;
      if (!button || !options.root.contains(button) || !ENDPOINTS[button.dataset.action]) return;
      var number = button.dataset.number;
      if (button.dataset.action === "accept") accept(number, button);
      else open(button.dataset.action, number, button);
    });

    function accept(number, button) {
      if (sending[number]) return;
      sending[number] = true;
      // Not `disabled`: that would take the keyboard focus away from the row.
      button.setAttribute("aria-disabled", "true");
      button.setAttribute("aria-busy", "true");
      options.say("busy", texts.busy);
      post(number, "accept", {})
        .then(function (ticket) {
          options.say("ok", fill(texts.doneAccept, { number: number }));
          options.done(number, "accept", ticket);
        })
        .catch(function (error) {
          options.say("error", fill(texts.error, { number: number, message: error.message }));
          button.removeAttribute("aria-disabled");
          button.removeAttribute("aria-busy");
        })
        .then(function () {
          delete sending[number];
        });
    }

    // Dialogs ------------------------------------------------------------------------------------

    function open(action, number, opener) {
      var dialog = document.querySelector('dialog[data-dialog="' + action + '"]');
      if (!dialog) return;
      var form = dialog.querySelector("form");
      form.reset();
      clearErrors(dialog);
      current = { action: action, number: number, dialog: dialog, opener: opener };
      dialog.querySelector("[data-dialog-title]").textContent = fill(texts["title" + capital(action)], {
        number: number,
      });
      var row = options.row(number) || {};
      if (action === "return") prepareReturn(dialog);
      if (action === "extend") prepareExtend(dialog, row);
      if (action === "reply") prepareReply(dialog, number, row);
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
      var first = form.querySelector("select, textarea, input");
      if (first) first.focus();
    }

    function close() {
      if (!current) return;
      var dialog = current.dialog;
      var opener = current.opener;
      current = null;
      if (typeof dialog.close === "function") dialog.close();
      else dialog.removeAttribute("open");
      // Back to the button that opened it, if the row still has it; else the page decides.
      if (opener && document.body.contains(opener)) opener.focus();
    }

    document.querySelectorAll("dialog[data-dialog]").forEach(function (dialog) {
      var form = dialog.querySelector("form");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submit();
      });
      dialog.querySelectorAll("[data-dialog-close]").forEach(function (button) {
        button.addEventListener("click", close);
      });
      dialog.addEventListener("cancel", function (event) {
        event.preventDefault(); // Esc: close through close(), which gives the focus back
        close();
      });
    });

    var reasonSelect = document.querySelector('dialog[data-dialog="return"] select[name=code]');
    if (reasonSelect) reasonSelect.addEventListener("change", function () {
      followReason(reasonSelect.closest("dialog"));
    });

    function submit() {
      if (!current || current.busy) return;
      var job = current;
      var form = job.dialog.querySelector("form");
      var body = bodyFor(job.action, form);
      var button = form.querySelector("button[type=submit]");
      clearErrors(job.dialog);
      job.busy = true;
      button.setAttribute("aria-disabled", "true");
      button.setAttribute("aria-busy", "true");
      options.say("busy", texts.busy);
      post(job.number, job.action, body)
        .then(function (result) {
          if (current === job) close();
          options.say("ok", fill(texts["done" + capital(job.action)], { number: job.number }));
          options.done(job.number, job.action, result);
        })
        .catch(function (error) {
          showErrors(job.dialog, error);
          options.say("error", fill(texts.error, { number: job.number, message: error.message }));
        })
        .then(function () {
          job.busy = false;
          button.removeAttribute("aria-disabled");
          button.removeAttribute("aria-busy");
        });
    }

    function bodyFor(action, form) {
      var value = function (name) {
        return form.elements[name] ? form.elements[name].value : "";
      };
      if (action === "return") {
        var body = { code: value("code"), note: value("note") };
        if (!form.querySelector('[data-field="responsible"]').hidden && value("responsible")) {
          body.responsible = Number(value("responsible"));
        }
        return body;
      }
      // A local date and time, no zone: the server reads it in the hotline's zone (the one the label names).
      if (action === "extend") return { until: value("until"), reason: value("reason") };
      if (action === "reply") return { reply: value("reply") };
      if (action === "assist") return { text: value("text") };
      return {};
    }

    // Return: the configurable list of reasons, read again when the dialog opens (it may have changed).
    function prepareReturn(dialog) {
      followReason(dialog);
      fetchJson(config.dataset.reasonsUrl)
        .then(function (reasons) {
          if (!Array.isArray(reasons) || !reasons.length) return;
          var select = dialog.querySelector("select[name=code]");
          var chosen = select.value;
          var english = (language || "").indexOf("en") === 0;
          while (select.options.length > 1) select.remove(1);
          reasons.forEach(function (reason) {
            var option = document.createElement("option");
            option.value = reason.code;
            option.textContent = (english && reason.name_en) || reason.name;
            option.dataset.needsNote = reason.needs_note ? "1" : "0";
            option.dataset.namesDepartment = reason.names_department ? "1" : "0";
            select.appendChild(option);
          });
          select.value = chosen;
          followReason(dialog);
        })
        .catch(function () {
          /* the list the page came with is still there */
        });
    }

    // A reason that names the responsible department asks for it; one that needs a note requires it.
    function followReason(dialog) {
      var select = dialog.querySelector("select[name=code]");
      var option = select.options[select.selectedIndex];
      var names = !!option && option.dataset.namesDepartment === "1";
      var needsNote = !!option && option.dataset.needsNote === "1";
      var responsible = dialog.querySelector('[data-field="responsible"]');
      responsible.hidden = !names;
      responsible.querySelector("select").required = names;
      var note = dialog.querySelector("textarea[name=note]");
      note.required = needsNote;
      dialog.querySelector("[data-note-label]").textContent = needsNote ? texts.noteRequired : texts.noteOptional;
    }

    function prepareExtend(dialog, row) {
      var input = dialog.querySelector("input[name=until]");
      var now = Date.now();
      input.min = localValue(now);
      var deadline = row.deadline ? Date.parse(row.deadline) : NaN;
      dialog.querySelector("[data-current-deadline]").textContent = isNaN(deadline) ? "—" : formatDate(row.deadline);
      // A day after the current deadline (or from now), as a starting point to adjust.
      input.value = localValue(Math.max(isNaN(deadline) ? now : deadline, now) + 86400000);
    }

    // Reply: who the reply still waits for, and what the assisting departments said.
    function prepareReply(dialog, number, row) {
      var missing = dialog.querySelector("[data-assist-missing]");
      var names = (row.assist_missing || []).map(function (d) {
        return d.name;
      });
      missing.hidden = !names.length;
      missing.textContent = names.length ? fill(texts.missing, { names: names.join(", ") }) : "";
      var section = dialog.querySelector("[data-assist-inputs]");
      var list = section.querySelector("[data-assist-list]");
      list.textContent = "";
      section.hidden = !(row.assisting && row.assisting.length);
      if (section.hidden) return;
      fetchJson(withNumber(config.dataset.apiUrl, number) + "assist/")
        .then(function (inputs) {
          list.textContent = "";
          if (!inputs.length) {
            var none = document.createElement("li");
            none.className = "empty";
            none.textContent = texts.noInput;
            list.appendChild(none);
          }
          inputs.forEach(function (input) {
            var item = document.createElement("li");
            var who = document.createElement("strong");
            who.textContent = input.department_name + (input.waived ? " (" + texts.waived + ")" : "") + ": ";
            item.appendChild(who);
            item.appendChild(document.createTextNode(input.text));
            list.appendChild(item);
          });
        })
        .catch(function () {
          section.hidden = true;
        });
    }

    function showErrors(dialog, error) {
      var alert = dialog.querySelector("[data-dialog-error]");
      alert.textContent = error.message;
      alert.hidden = false;
      var fields = error.fields || {};
      var first = null;
      Object.keys(fields).forEach(function (name) {
        var list = dialog.querySelector('[data-errors="' + name + '"]');
        if (!list) return;
        list.textContent = "";
        [].concat(fields[name]).forEach(function (message) {
          var item = document.createElement("li");
          item.textContent = message;
          list.appendChild(item);
        });
        list.hidden = false;
        var input = dialog.querySelector("form").elements[name];
        if (input && input.setAttribute) {
          input.setAttribute("aria-invalid", "true");
          if (!first) first = input;
        }
      });
      if (first) first.focus(); // the alert (role="alert") is read out either way
    }

    function clearErrors(dialog) {
      var alert = dialog.querySelector("[data-dialog-error]");
      alert.hidden = true;
      alert.textContent = "";
      dialog.querySelectorAll("[data-errors]").forEach(function (list) {
        list.hidden = true;
        list.textContent = "";
      });
      dialog.querySelectorAll("[aria-invalid]").forEach(function (input) {
        input.removeAttribute("aria-invalid");
      });
    }
  }

  // The API ------------------------------------------------------------------------------------

  // Resolves with the answer's JSON; rejects with {message, fields, status} (the API's error, in the
  // page's language) or with the "request failed" text when there was no answer.
  function post(number, action, body) {
    return fetch(withNumber(config.dataset.apiUrl, number) + ENDPOINTS[action], {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrf ? csrf.value : "",
      },
      body: JSON.stringify(body),
    }).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (response.ok) return data;
            var error = (data && data.error) || {};
            throw { message: error.message || texts.failed, fields: error.fields || {}, status: response.status };
          });
      },
      function () {
        throw { message: texts.failed, fields: {}, status: 0 };
      },
    );
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  // Helpers --------------------------------------------------------------------------------------

  // The page gives URLs for ticket "0"; put the number in its place.
  function withNumber(url, number) {
    return url.replace(/\/0\/$/, "/" + encodeURIComponent(number) + "/");
  }

  function fill(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (match, name) {
      return name in values ? values[name] : match;
    });
  }

  function capital(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  function formatDate(iso) {
    return new Date(iso).toLocaleString(language, {
      dateStyle: "short",
      timeStyle: "short",
      timeZone: texts.timeZone,
    });
  }

  // "YYYY-MM-DDTHH:MM" in the hotline's zone, as a datetime-local input takes it.
  function localValue(ms) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: texts.timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(ms))
      .forEach(function (part) {
        parts[part.type] = part.value;
      });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }

  window.HotlineDepartmentActions = { attach: attach, fill: fill, withNumber: withNumber };
})();

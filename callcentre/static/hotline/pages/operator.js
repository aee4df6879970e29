/* Operator console (话务员): screen pop, a keyboard-first ticket form, the routing suggestion with its
 * reason, dispatch or close at first contact with a knowledge-base answer, the tickets the report may repeat
 * (重复件, with their reasons; merge the report into one), and the operator's own queue.
 *
 * Live over one socket (live.js, docs/dashboards.md): the snapshot's `call` (the call the operator is
 * on: the call.pop payload), `queue` (drafts, tickets waiting for callback, the numbers of the other
 * open tickets it follows) and `tickets.registered`; then the events call.pop (shown at once),
 * call.hangup, ticket.* and callback.due. Nothing polls: the API is read when the operator acts, when
 * a pop names a draft, or when an event names one of the operator's tickets. Every text comes from the
 * page (#console-texts), in its language.
 *
 * Hooks the end-to-end test relies on (keep them): #screen-pop[data-ticket], #ticket-form with fields
 * named kind, category, title, description, address, district, urgency; #routing-suggestion;
 * button[name=dispatch], button[name=close-first-contact]; #console-status; #duplicate-suggestions with
 * button[data-merge-into].
 */
(function () {
  "use strict";

  var root = document.getElementById("operator-console");
  var form = document.getElementById("ticket-form");
  if (!root || !form || !window.HotlineLive || !window.HotlineDuplicates) return;

  var config = root.dataset;
  var texts = document.getElementById("console-texts").dataset;
  var categories = JSON.parse(document.getElementById("console-categories").textContent || "[]");
  var language = document.documentElement.lang || undefined;
  var csrfToken = form.querySelector("[name=csrfmiddlewaretoken]").value;

  var DEBOUNCE_MS = 300;
  var FIELDS = ["kind", "category", "title", "description", "address", "district", "urgency"];
  var DISPATCHABLE = ["draft", "registered", "returned"];
  var CLOSABLE = ["draft", "registered"];
  // Where the form's ticket may still be merged into another (the lifecycle's merge).
  var MERGEABLE = ["draft", "registered", "returned", "dispatched", "accepted", "reopened"];
  // Where one of the operator's tickets may be between registration and the department's reply.
  var ON_THE_WAY = ["registered", "dispatched", "accepted", "extension_requested", "returned", "reopened"];

  var el = {
    kind: form.elements.namedItem("kind"),
    category: form.elements.namedItem("category"),
    categoryId: form.elements.namedItem("category_id"),
    title: form.elements.namedItem("title"),
    description: form.elements.namedItem("description"),
    address: form.elements.namedItem("address"),
    district: form.elements.namedItem("district"),
    urgency: form.elements.namedItem("urgency"),
    department: form.elements.namedItem("department"),
    answer: form.elements.namedItem("answer"),
    article: form.elements.namedItem("article"),
    knowledge: form.elements.namedItem("knowledge-query"),
    dispatch: form.querySelector("button[name=dispatch]"),
    close: form.querySelector('button[name="close-first-contact"]'),
    newTicket: form.querySelector("button[name=new]"),
    number: form.querySelector("[data-form-number]"),
    status: form.querySelector("[data-form-status]"),
    citizenAddress: form.querySelector("[data-use-citizen-address]"),
    articleChosen: form.querySelector("[data-article-chosen]"),
    articleTitle: form.querySelector("[data-article-title]"),
    articleClear: form.querySelector("[data-article-clear]"),
    suggestion: document.getElementById("routing-suggestion"),
    duplicates: document.getElementById("duplicate-suggestions"),
    pop: document.getElementById("screen-pop"),
    callState: document.getElementById("call-state"),
    statusBox: document.getElementById("console-status"),
  };
  el.statusText = el.statusBox.querySelector("[data-status-text]");
  el.statusAction = el.statusBox.querySelector("[data-status-action]");

  var WRAP_UP_MS = 5 * 60 * 1000;
  var state = {
    call: null, // the screen pop shown (the call.pop payload)
    callEndedAt: 0, // when the call shown ended (Date.now()); 0 while it lasts
    ticket: null, // the form's ticket as the API last gave it; null: a new one, not saved yet
    citizen: null, // the caller's citizen id, for a new ticket
    generation: 0, // bumped whenever the form is given another ticket: late answers for the old one stay out
    dirty: false,
    touched: {}, // fields typed into since the ticket was loaded (a late read does not overwrite them)
    busy: false,
    departmentByHand: false,
    article: null,
    versions: {}, // number -> newest version seen, so an older read never replaces a newer one
    rows: { drafts: {}, callbacks: {}, registered: {} }, // number -> the row shown
    watching: {}, // numbers of the operator's tickets on their way to a reply
  };

  // Helpers -------------------------------------------------------------------------------------

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (match, key) {
      return values && values[key] !== undefined && values[key] !== null ? String(values[key]) : match;
    });
  }

  var dateFormat = (function () {
    var options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
    try {
      return new Intl.DateTimeFormat(language, Object.assign({ timeZone: config.timeZone || undefined }, options));
    } catch (error) {
      return new Intl.DateTimeFormat(language, options); // an unknown zone name: the browser's own
    }
  })();

  function formatDate(iso) {
    if (!iso) return "—";
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "—" : dateFormat.format(date);
  }

  function withNumber(url, number) {
    return url.replace(/\/0\/$/, "/" + encodeURIComponent(number) + "/");
  }

  function ticketApi(number, action) {
    return withNumber(config.apiTicket, number) + (action ? action + "/" : "");
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function link(number) {
    var a = make("a", "", number);
    a.href = withNumber(config.ticketUrl, number);
    return a;
  }

  // The API ------------------------------------------------------------------------------------

  function Refused(result, number) {
    this.result = result; // null: the server could not be reached
    this.number = number;
  }

  function request(method, url, body, options) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken;
    if (options && options.signal) init.signal = options.signal;
    if (options && options.keepalive) init.keepalive = true;
    return fetch(url, init).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          return { ok: response.ok, status: response.status, data: data };
        });
    });
  }

  // The answer's data, or a Refused the action's error handling shows.
  function apiCall(method, url, body, number) {
    return request(method, url, body).then(
      function (result) {
        if (!result.ok) throw new Refused(result, number);
        return result.data;
      },
      function () {
        throw new Refused(null, number);
      },
    );
  }

  // The status line and field errors -----------------------------------------------------------

  function setStatus(kind, text, action) {
    el.statusBox.dataset.kind = kind;
    el.statusText.textContent = text || "";
    el.statusAction.hidden = !action;
    el.statusAction.textContent = action ? action.label : "";
    el.statusAction.onclick = action ? action.run : null;
  }

  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (slot) {
      slot.hidden = true;
      slot.textContent = "";
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (control) {
      control.removeAttribute("aria-invalid");
    });
  }

  // Each field's messages under it; the first such field gets the focus unless `keepFocus`.
  function showFieldErrors(fields, keepFocus) {
    var first = null;
    Object.keys(fields || {}).forEach(function (name) {
      var slot = form.querySelector('[data-error-for="' + name + '"]');
      if (!slot) return;
      slot.textContent = [].concat(fields[name]).join(" ");
      slot.hidden = false;
      var control = name === "article" ? el.knowledge : form.elements.namedItem(name);
      if (control && control.setAttribute) {
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      }
    });
    if (first && !keepFocus) first.focus();
  }

  function showFailure(error) {
    if (!(error instanceof Refused)) {
      if (window.console) console.error("operator console:", error);
      setStatus("error", texts.network);
      return;
    }
    if (!error.result) {
      setStatus("error", texts.network);
      return;
    }
    var detail = (error.result.data && error.result.data.error) || {};
    if (error.result.status === 409 && detail.code === "stale_version") {
      setStatus("error", format(texts.stale, { number: error.number }), {
        label: texts.reload,
        run: function () {
          reloadTicket(error.number);
        },
      });
      return;
    }
    if (detail.fields) showFieldErrors(detail.fields);
    setStatus("error", format(texts.refused, { message: detail.message || texts.network }));
  }

  // One action at a time; its errors end up in the status line.
  function run(task) {
    if (state.busy) return Promise.resolve();
    state.busy = true;
    form.setAttribute("aria-busy", "true");
    clearErrors();
    return Promise.resolve()
      .then(task)
      .catch(showFailure)
      .then(function () {
        state.busy = false;
        form.removeAttribute("aria-busy");
      });
  }

  // The form -----------------------------------------------------------------------------------

  function formBody() {
    return {
      kind: el.kind.value,
      urgency: el.urgency.value,
      title: el.title.value.trim(),
      description: el.description.value.trim(),
      address: el.address.value.trim(),
      district: el.district.value ? Number(el.district.value) : null,
      category: el.categoryId.value ? Number(el.categoryId.value) : null,
    };
  }

  function sameBody(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  // The citizen the form's ticket is about: its own, or for a new ticket the caller on the screen pop.
  function citizenId() {
    if (state.ticket) return state.ticket.citizen ? state.ticket.citizen.id : null;
    return state.citizen;
  }

  function markDirty(name) {
    state.dirty = true;
    if (name) state.touched[name] = true;
  }

  // Newer than (or as new as) anything seen for this number? Remembers it.
  function noteVersion(ticket) {
    var seen = state.versions[ticket.number];
    if (seen !== undefined && ticket.version < seen) return false;
    state.versions[ticket.number] = ticket.version;
    return true;
  }

  function fillForm(ticket) {
    var values = {
      kind: ticket.kind,
      urgency: ticket.urgency,
      title: ticket.title || "",
      description: ticket.description || "",
      address: ticket.address || "",
      district: ticket.district ? String(ticket.district) : "",
    };
    Object.keys(values).forEach(function (name) {
      if (!state.touched[name] && values[name] !== undefined) el[name].value = values[name];
    });
    if (!state.touched.category) categoryPicker.set(ticket.category, ticket.category_name);
  }

  function clearForm(kind) {
    el.kind.value = kind || el.kind.options[0].value;
    el.urgency.value = el.urgency.options[0].value;
    ["title", "description", "address"].forEach(function (name) {
      el[name].value = "";
    });
    el.district.value = "";
    categoryPicker.set(null, "");
  }

  // The form now shows `ticket` (or a new one, null): number, status, which actions apply.
  function showFormTicket() {
    var ticket = state.ticket;
    el.number.textContent = ticket && ticket.number ? ticket.number : texts.newTicket;
    el.status.hidden = !(ticket && ticket.status_display);
    el.status.textContent = ticket && ticket.status_display ? ticket.status_display : "";
    var status = ticket ? ticket.status : "draft";
    el.dispatch.setAttribute("aria-disabled", String(DISPATCHABLE.indexOf(status) < 0));
    el.close.setAttribute("aria-disabled", String(CLOSABLE.indexOf(status) < 0));
    form.dataset.ticket = ticket && ticket.number ? ticket.number : "";
    form.dataset.status = status;
    showCitizenAddressButton();
  }

  // The answer for the form's ticket: take it unless the form moved on to another ticket meanwhile.
  function applyIfCurrent(ticket, captured) {
    placeInLists(ticket, { fresh: true });
    if (captured.generation !== state.generation) return ticket;
    state.ticket = ticket;
    state.dirty = !sameBody(formBody(), captured.body);
    if (!state.dirty) state.touched = {};
    showFormTicket();
    return ticket;
  }

  function capture() {
    return {
      generation: state.generation,
      ticket: state.ticket,
      body: formBody(),
      citizen: citizenId(),
      call: state.ticket ? null : state.newForCall,
    };
  }

  // Write the captured form: PATCH with the version read (409 if someone changed it), or open a ticket:
  // a draft, or with `register` registered at once (nothing is created when that is refused).
  function persist(captured, register) {
    var ticket = captured.ticket;
    if (ticket && ticket.number) {
      var changes = Object.assign({ version: ticket.version }, captured.body);
      return apiCall("PATCH", ticketApi(ticket.number), changes, ticket.number);
    }
    var body = Object.assign({ register: !!register, channel: "phone" }, captured.body);
    if (captured.citizen) body.citizen = captured.citizen;
    return apiCall("POST", config.apiTickets, body, null).then(function (created) {
      if (captured.call) linkToCall(captured.call, created.number);
      return created;
    });
  }

  // The call a new ticket belongs to: the one on the console, while it lasts and for the after-call
  // work (WRAP_UP_MS) once it has ended; after that a new ticket is desk work of its own.
  function callForNewTicket() {
    if (!state.call) return null;
    if (state.callEndedAt && Date.now() - state.callEndedAt > WRAP_UP_MS) return null;
    return state.call.call;
  }

  // A ticket started during a call (the caller's second matter) is recorded on that call too. The
  // ticket stands whether or not the link is made: a failure only costs the call record its link.
  function linkToCall(callId, number) {
    var url = config.apiCallTickets.replace(/\/0\/tickets\/$/, "/" + encodeURIComponent(callId) + "/tickets/");
    request("POST", url, { ticket: number }).then(null, function () {});
  }

  // Save the form as `captured` at the start of the action if it has changes (or was never saved);
  // resolves to the ticket.
  function saveForm(captured, register) {
    if (captured.ticket && captured.ticket.number && !state.dirty) return Promise.resolve(captured.ticket);
    setStatus("busy", texts.saving);
    return persist(captured, register).then(function (ticket) {
      return applyIfCurrent(ticket, captured);
    });
  }

  // The form is about to show another ticket: keep what was typed into this one.
  function setAside() {
    if (!state.dirty) return;
    var captured = capture();
    if (!(captured.ticket && captured.ticket.number) && !captured.body.title && !captured.body.description) return;
    persist(captured).then(function (ticket) {
      placeInLists(ticket, { fresh: true });
      setStatus("info", format(texts.autosaved, { number: ticket.number }));
    }, showFailure);
  }

  function resetOutcome() {
    clearErrors();
    state.departmentByHand = false;
    el.department.value = "";
    markSuggested(null);
    el.answer.value = "";
    chooseArticle(null);
    el.knowledge.value = "";
    knowledgePicker.close();
    renderSuggestion(null);
    renderDuplicates(null);
  }

  // Give the form another ticket: `summary` (number, and from a pop kind/status/version) or null for a new one.
  function switchTo(summary, kind) {
    setAside();
    state.generation += 1;
    state.dirty = false;
    state.touched = {};
    resetOutcome();
    if (!summary) {
      state.ticket = null;
      clearForm(kind);
      showFormTicket();
      return Promise.resolve(null);
    }
    clearForm(summary.kind);
    // Shown at once from what the pop says; the rest of the draft follows from the API.
    state.ticket = {
      number: summary.number,
      version: summary.version,
      status: summary.status || "draft",
      status_display: summary.status_display,
      citizen: summary.citizen || null,
    };
    showFormTicket();
    return loadInto(summary.number, state.generation, summary.quiet);
  }

  // Read the ticket into the form (unless it has moved on to another); `quiet`: the status line keeps
  // what it says (a pop's announcement).
  function loadInto(number, generation, quiet) {
    if (!quiet) setStatus("busy", format(texts.loading, { number: number }));
    return apiCall("GET", ticketApi(number), undefined, number).then(
      function (ticket) {
        if (!noteVersion(ticket)) return ticket; // older than what a save meanwhile gave the form
        placeInLists(ticket);
        if (generation !== state.generation) return ticket;
        fillForm(ticket);
        state.ticket = ticket;
        state.dirty = Object.keys(state.touched).length > 0;
        showFormTicket();
        if (!quiet) setStatus("info", format(texts.loaded, { number: number }));
        explainSoon(0);
        duplicatesSoon(0);
        return ticket;
      },
      function (error) {
        if (generation === state.generation) showFailure(error);
      },
    );
  }

  // After a stale-version refusal: the ticket as it is now, replacing what was typed.
  function reloadTicket(number) {
    state.generation += 1;
    state.touched = {};
    state.dirty = false;
    clearErrors();
    return loadInto(number, state.generation);
  }

  function openDraft(number, focus) {
    if (state.ticket && state.ticket.number === number) return;
    switchTo({ number: number, status: "draft" }).then(function () {
      if (focus) el.title.focus();
    });
  }

  // Actions ------------------------------------------------------------------------------------

  function save() {
    return run(function () {
      var unchanged = state.ticket && state.ticket.number && !state.dirty;
      return saveForm(capture()).then(function (ticket) {
        setStatus("ok", format(unchanged ? texts.nothingToSave : texts.saved, { number: ticket.number }));
      });
    });
  }

  // Save and register the form's ticket; resolves to {ticket, registered: whether it was registered just now}.
  function saveRegistered(captured) {
    if (!(captured.ticket && captured.ticket.number)) {
      return saveForm(captured, true).then(function (ticket) {
        return { ticket: ticket, registered: true };
      });
    }
    return saveForm(captured).then(function (ticket) {
      return registered(ticket, captured);
    });
  }

  // Register a draft; resolves to {ticket, registered: whether it was a draft just now}.
  function registered(ticket, captured) {
    if (ticket.status !== "draft") return Promise.resolve({ ticket: ticket, registered: false });
    setStatus("busy", format(texts.registering, { number: ticket.number }));
    return apiCall("POST", ticketApi(ticket.number, "register"), {}, ticket.number).then(function (done) {
      return { ticket: applyIfCurrent(done, captured), registered: true };
    });
  }

  function dispatch() {
    if (el.dispatch.getAttribute("aria-disabled") === "true") return finished();
    return run(function () {
      // What the form holds now: a pop arriving meanwhile gives the form another ticket, not this one's answers.
      var captured = capture();
      var department = el.department.value ? Number(el.department.value) : null;
      return saveRegistered(captured).then(function (step) {
        var ticket = step.ticket;
        if (step.registered && ticket.status !== "registered") {
          // A rule dispatched it on registration.
          setStatus(
            "ok",
            format(texts.autoDispatched, { number: ticket.number, department: ticket.lead_department_name }),
          );
          return;
        }
        setStatus("busy", format(texts.dispatching, { number: ticket.number }));
        var body = department ? { department: department } : {};
        return apiCall("POST", ticketApi(ticket.number, "dispatch"), body, ticket.number).then(function (done) {
          applyIfCurrent(done, captured);
          setStatus(
            "ok",
            format(texts.dispatched, { number: done.number, department: done.lead_department_name }),
          );
        });
      });
    });
  }

  function closeFirstContact() {
    if (el.close.getAttribute("aria-disabled") === "true") return finished();
    var answer = el.answer.value.trim();
    var article = state.article ? state.article.id : null;
    if (!answer && !article) {
      clearErrors();
      showFieldErrors({ answer: [texts.answerRequired] });
      setStatus("error", texts.answerRequired);
      return Promise.resolve();
    }
    return run(function () {
      var captured = capture();
      return saveRegistered(captured).then(function (step) {
        var ticket = step.ticket;
        if (step.registered && ticket.status !== "registered") {
          setStatus(
            "error",
            format(texts.autoDispatchedNoClose, { number: ticket.number, department: ticket.lead_department_name }),
          );
          return;
        }
        setStatus("busy", format(texts.closing, { number: ticket.number }));
        var body = { answer: answer, article: article };
        return apiCall("POST", ticketApi(ticket.number, "close-first-contact"), body, ticket.number).then(
          function (done) {
            if (applyIfCurrent(done, captured) && captured.generation === state.generation) {
              el.answer.value = "";
              chooseArticle(null);
            }
            setStatus("ok", format(texts.closed, { number: done.number }));
          },
        );
      });
    });
  }

  function finished() {
    var ticket = state.ticket || {};
    setStatus("info", format(texts.finished, { number: ticket.number, status: ticket.status_display }));
    return Promise.resolve();
  }

  function newTicket() {
    var kind = state.call && state.call.ivr && state.call.ivr.kind ? state.call.ivr.kind : "";
    switchTo(null, kind);
    state.newForCall = callForNewTicket();
    setStatus("info", "");
    el.title.focus();
  }

  // The routing suggestion ---------------------------------------------------------------------

  var suggestionPlaceholder = el.suggestion.firstElementChild.cloneNode(true);
  var explainTimer = null;
  var explainSeq = 0;
  var explainAbort = null;

  function explainSoon(delay) {
    window.clearTimeout(explainTimer);
    explainTimer = window.setTimeout(explain, delay === undefined ? DEBOUNCE_MS : delay);
  }

  function explain() {
    var seq = ++explainSeq;
    if (explainAbort) explainAbort.abort();
    explainAbort = window.AbortController ? new AbortController() : null;
    var body = Object.assign({ channel: "phone" }, formBody());
    delete body.address; // not a routing fact
    if (citizenId()) body.citizen = citizenId();
    el.suggestion.setAttribute("aria-busy", "true");
    request("POST", config.apiExplain, body, { signal: explainAbort && explainAbort.signal })
      .then(function (result) {
        if (seq !== explainSeq) return;
        el.suggestion.removeAttribute("aria-busy");
        if (result.ok) renderSuggestion(result.data);
        else {
          var detail = (result.data && result.data.error) || {};
          renderSuggestionError(detail.message || texts.network);
        }
      })
      .catch(function (error) {
        if (seq !== explainSeq || (error && error.name === "AbortError")) return;
        el.suggestion.removeAttribute("aria-busy");
        renderSuggestionError(texts.network);
      });
  }

  function renderSuggestionError(message) {
    el.suggestion.textContent = "";
    el.suggestion.dataset.state = "error";
    el.suggestion.appendChild(make("p", "empty", format(texts.explainFailed, { message: message })));
  }

  function renderSuggestion(result) {
    var box = el.suggestion;
    box.textContent = "";
    if (!result) {
      box.dataset.state = "empty";
      delete box.dataset.department;
      box.appendChild(suggestionPlaceholder.cloneNode(true));
      return;
    }
    var suggestion = result.suggestion || {};
    var lead = suggestion.lead_department;
    box.dataset.state = result.matched ? "matched" : "none";
    if (lead) box.dataset.department = String(lead.id);
    else delete box.dataset.department;
    if (!result.matched) {
      box.appendChild(make("p", "suggestion-none", texts.noMatch));
    } else {
      var head = make("p", "suggestion-head");
      head.appendChild(make("span", "suggestion-label", texts.suggested));
      head.appendChild(lead ? make("strong", "suggested-department", lead.name) : make("span", "", texts.noDepartment));
      box.appendChild(head);
      var facts = make("dl", "facts suggestion-facts");
      addFact(facts, texts.rule, format(texts.rulePriority, { name: result.rule.name, priority: result.rule.priority }));
      if (suggestion.assisting_departments && suggestion.assisting_departments.length) {
        addFact(
          facts,
          texts.assisting,
          suggestion.assisting_departments
            .map(function (d) {
              return d.name;
            })
            .join("、"),
        );
      }
      if (suggestion.deadline) addFact(facts, texts.deadline, formatDate(suggestion.deadline));
      box.appendChild(facts);
      if (result.conditions && result.conditions.length) {
        box.appendChild(make("p", "suggestion-why", texts.conditions));
        var list = make("ul", "conditions");
        result.conditions.forEach(function (condition) {
          var item = make("li", condition.held ? "is-held" : "is-not-held");
          item.appendChild(make("span", "mark", condition.held ? "✓" : "✗")).setAttribute("aria-hidden", "true");
          item.appendChild(make("span", "visually-hidden", condition.held ? texts.held : texts.notHeld));
          item.appendChild(document.createTextNode(" " + condition.detail));
          list.appendChild(item);
        });
        box.appendChild(list);
      }
      if (suggestion.auto_dispatch) box.appendChild(make("p", "notice", texts.autoDispatch));
      if (suggestion.close_first_contact) box.appendChild(make("p", "notice", texts.suggestClose));
    }
    markSuggested(lead ? lead.id : null);
    if (!state.departmentByHand) el.department.value = lead ? String(lead.id) : "";
  }

  function addFact(list, term, value) {
    list.appendChild(make("dt", "", term));
    list.appendChild(make("dd", "", value));
  }

  function markSuggested(id) {
    Array.prototype.forEach.call(el.department.options, function (option) {
      if (!option.value) return;
      var name = option.dataset.name || option.textContent;
      option.textContent = option.value === String(id) ? name + " " + texts.suggestedMark : name;
    });
  }

  // Possible duplicates (重复件) -------------------------------------------------------------------------

  var duplicateTexts = el.duplicates.dataset;
  var duplicatesPlaceholder = el.duplicates.firstElementChild.cloneNode(true);
  var duplicatesTimer = null;
  var duplicatesSeq = 0;
  var duplicatesAbort = null;

  function duplicatesSoon(delay) {
    window.clearTimeout(duplicatesTimer);
    duplicatesTimer = window.setTimeout(findDuplicates, delay === undefined ? DEBOUNCE_MS : delay);
  }

  // The form as the server should compare it; the saved ticket's number brings its caller's phone.
  function duplicatesBody() {
    var body = formBody();
    var query = { description: body.description, title: body.title, address: body.address, district: body.district };
    if (state.ticket && state.ticket.number) query.ticket = state.ticket.number;
    if (citizenId()) query.citizen = citizenId();
    return query;
  }

  function findDuplicates() {
    var seq = ++duplicatesSeq;
    if (duplicatesAbort) duplicatesAbort.abort();
    var body = duplicatesBody();
    if ((body.description + body.title).length < 4 && !body.ticket && !body.citizen) {
      renderDuplicates(null);
      return;
    }
    duplicatesAbort = window.AbortController ? new AbortController() : null;
    el.duplicates.setAttribute("aria-busy", "true");
    request("POST", config.apiDuplicates, body, { signal: duplicatesAbort && duplicatesAbort.signal })
      .then(function (result) {
        if (seq !== duplicatesSeq) return;
        el.duplicates.removeAttribute("aria-busy");
        if (result.ok) renderDuplicates(result.data);
        else {
          var detail = (result.data && result.data.error) || {};
          var failed = format(duplicateTexts.failed, { message: detail.message || texts.network });
          HotlineDuplicates.message(el.duplicates, failed, "error");
        }
      })
      .catch(function (error) {
        if (seq !== duplicatesSeq || (error && error.name === "AbortError")) return;
        el.duplicates.removeAttribute("aria-busy");
        HotlineDuplicates.message(el.duplicates, format(duplicateTexts.failed, { message: texts.network }), "error");
      });
  }

  function renderDuplicates(suggestions) {
    if (!suggestions) {
      window.clearTimeout(duplicatesTimer);
      duplicatesSeq += 1; // an answer still on its way is for another form
      el.duplicates.textContent = "";
      el.duplicates.dataset.state = "empty";
      el.duplicates.appendChild(duplicatesPlaceholder.cloneNode(true));
      return;
    }
    var status = state.ticket ? state.ticket.status : "draft";
    HotlineDuplicates.render(el.duplicates, suggestions, {
      texts: duplicateTexts,
      ticketUrl: function (number) {
        return withNumber(config.ticketUrl, number);
      },
      canMerge: MERGEABLE.indexOf(status) >= 0,
      onMerge: mergeInto,
    });
  }

  // Merge the form's report into `main`: saved first (a new one as a draft, which the lifecycle lets merge).
  function mergeInto(main) {
    return run(function () {
      var captured = capture();
      return saveForm(captured).then(function (ticket) {
        setStatus("busy", format(duplicateTexts.merging, { number: ticket.number, into: main.number }));
        var body = { into: main.number };
        return apiCall("POST", ticketApi(ticket.number, "merge"), body, ticket.number).then(function (done) {
          applyIfCurrent(done, captured);
          setStatus("ok", format(duplicateTexts.merged, { number: done.number, into: main.number }));
          if (captured.generation === state.generation) duplicatesSoon(0);
        });
      });
    });
  }

  // Pickers: a text box with a list of choices (WAI-ARIA combobox with a listbox popup) --------------

  function Picker(input, list, source) {
    this.input = input;
    this.list = list;
    this.source = source; // items(query, show), label(item), render(item, li), choose(item), none(query)
    this.items = [];
    this.active = -1;
    var self = this;
    input.addEventListener("input", function () {
      self.update();
    });
    input.addEventListener("keydown", function (event) {
      self.keydown(event);
    });
    input.addEventListener("blur", function () {
      self.close();
      if (source.blur) source.blur();
    });
    list.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep the focus in the text box
    });
    list.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) self.pick(Number(option.dataset.index));
    });
  }

  Picker.prototype.update = function () {
    var self = this;
    var query = this.input.value.trim();
    this.source.items(query, function (items) {
      if (document.activeElement !== self.input) return;
      self.show(items, query);
    });
  };

  Picker.prototype.show = function (items, query) {
    this.items = items;
    this.active = -1;
    this.list.textContent = "";
    this.input.removeAttribute("aria-activedescendant");
    var self = this;
    if (!items.length) {
      var none = this.source.none(query);
      if (!none) return this.close();
      this.list.appendChild(make("li", "combo-none", none));
    }
    items.forEach(function (item, index) {
      var option = make("li", "combo-option");
      option.id = self.list.id + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.index = String(index);
      self.source.render(item, option);
      self.list.appendChild(option);
    });
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  };

  Picker.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  };

  Picker.prototype.isOpen = function () {
    return !this.list.hidden;
  };

  Picker.prototype.move = function (delta) {
    if (!this.isOpen()) {
      this.update();
      return;
    }
    if (!this.items.length) return;
    var next = this.active + delta;
    if (next < 0) next = this.items.length - 1;
    if (next >= this.items.length) next = 0;
    this.highlight(next);
  };

  Picker.prototype.highlight = function (index) {
    var previous = this.list.querySelector('[aria-selected="true"]');
    if (previous) previous.setAttribute("aria-selected", "false");
    this.active = index;
    var option = document.getElementById(this.list.id + "-" + index);
    if (!option) return;
    option.setAttribute("aria-selected", "true");
    this.input.setAttribute("aria-activedescendant", option.id);
    if (option.scrollIntoView) option.scrollIntoView({ block: "nearest" });
  };

  Picker.prototype.pick = function (index) {
    var item = this.items[index];
    this.close();
    if (item !== undefined) this.source.choose(item);
  };

  Picker.prototype.keydown = function (event) {
    if (event.altKey && event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    if (event.isComposing) return; // an input method is composing Chinese: its keys are its own
    if (event.key === "ArrowDown") {
      event.preventDefault();
      this.move(1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      this.move(-1);
    } else if (event.key === "Enter" && this.isOpen()) {
      // Enter chooses (the highlighted one, or the only one) and never submits the form meanwhile.
      event.preventDefault();
      if (this.active >= 0) this.pick(this.active);
      else if (this.items.length === 1) this.pick(0);
    } else if (event.key === "Enter" && this.source.enterSearches) {
      event.preventDefault(); // a search box: Enter searches now rather than saving the form
      this.update();
    } else if (event.key === "Escape" && this.isOpen()) {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    }
  };

  // The category tree: type to filter (Chinese or English names), the whole tree when empty.
  var categorySelected = null;
  var categoryPicker = new Picker(el.category, document.getElementById("category-options"), {
    items: function (query, show) {
      show(filterCategories(query));
    },
    render: function (item, option) {
      var filtering = el.category.value.trim() !== "";
      option.textContent = filtering ? item.label : item.name;
      if (!filtering) option.style.paddingLeft = 0.6 + item.depth * 1.2 + "rem";
      if (item.leaf) option.classList.add("is-leaf");
    },
    choose: function (item) {
      setCategory(item);
    },
    none: function (query) {
      return query ? format(texts.categoryNone, { query: query }) : "";
    },
    blur: function () {
      resolveCategoryText();
    },
  });
  categoryPicker.set = function (id, label) {
    var item = null;
    for (var i = 0; i < categories.length; i++) if (categories[i].id === id) item = categories[i];
    categorySelected = item || (id ? { id: id, label: label || "" } : null);
    el.categoryId.value = categorySelected ? String(categorySelected.id) : "";
    el.category.value = categorySelected ? categorySelected.label : "";
  };

  function filterCategories(query) {
    if (!query) return categories.slice(0, 400);
    var needle = query.toLowerCase();
    var starts = [];
    var contains = [];
    categories.forEach(function (item) {
      var name = item.name.toLowerCase();
      var other = (item.other || "").toLowerCase();
      if (name.indexOf(needle) === 0 || other.indexOf(needle) === 0) starts.push(item);
      else if (item.label.toLowerCase().indexOf(needle) >= 0 || other.indexOf(needle) >= 0) contains.push(item);
    });
    return starts.concat(contains).slice(0, 60);
  }

  function setCategory(item) {
    var before = el.categoryId.value;
    categorySelected = item;
    el.categoryId.value = item ? String(item.id) : "";
    el.category.value = item ? item.label : "";
    clearFieldError("category");
    if (el.categoryId.value !== before) {
      markDirty("category");
      explainSoon();
    }
  }

  // Leaving the box with text typed but nothing chosen: an exact or only match counts; else back to the choice.
  function resolveCategoryText() {
    var text = el.category.value.trim();
    if (!text) return setCategory(null);
    if (categorySelected && text === categorySelected.label) return;
    var matches = filterCategories(text);
    var exact = matches.filter(function (item) {
      return item.name === text || item.label === text || item.other === text;
    });
    var item = exact.length === 1 ? exact[0] : matches.length === 1 ? matches[0] : null;
    if (item) return setCategory(item);
    el.category.value = categorySelected ? categorySelected.label : "";
    showFieldErrors({ category: [format(texts.categoryNone, { query: text })] }, true);
    el.category.removeAttribute("aria-invalid");
  }

  function clearFieldError(name) {
    var slot = form.querySelector('[data-error-for="' + name + '"]');
    if (slot) {
      slot.hidden = true;
      slot.textContent = "";
    }
  }

  // The knowledge base: search as the operator types; a chosen article fills the answer.
  var knowledgeTimer = null;
  var knowledgeAbort = null;
  var knowledgePicker = new Picker(el.knowledge, document.getElementById("knowledge-options"), {
    items: function (query, show) {
      window.clearTimeout(knowledgeTimer);
      if (knowledgeAbort) knowledgeAbort.abort();
      if (!query) return show([]);
      knowledgeTimer = window.setTimeout(function () {
        knowledgeAbort = window.AbortController ? new AbortController() : null;
        var url = config.apiKnowledge + "?page_size=8&q=" + encodeURIComponent(query);
        request("GET", url, undefined, { signal: knowledgeAbort && knowledgeAbort.signal })
          .then(function (result) {
            if (result.ok) show((result.data && result.data.results) || []);
            else {
              var detail = (result.data && result.data.error) || {};
              setStatus("error", format(texts.knowledgeFailed, { message: detail.message || texts.network }));
            }
          })
          .catch(function (error) {
            if (error && error.name === "AbortError") return;
            setStatus("error", format(texts.knowledgeFailed, { message: texts.network }));
          });
      }, DEBOUNCE_MS);
    },
    render: function (article, option) {
      var title = make("span", "article-title", article.title);
      option.appendChild(title);
      if (article.match === "near") option.appendChild(make("span", "badge", texts.knowledgeNear));
      var answer = article.answer || "";
      option.appendChild(make("span", "article-answer", answer.length > 80 ? answer.slice(0, 80) + "…" : answer));
    },
    choose: function (article) {
      chooseArticle(article);
      el.answer.value = article.answer || "";
      clearFieldError("answer");
      clearFieldError("article");
      el.answer.focus();
    },
    none: function (query) {
      return query ? format(texts.knowledgeNone, { query: query }) : "";
    },
    enterSearches: true,
  });

  function chooseArticle(article) {
    state.article = article;
    el.article.value = article ? String(article.id) : "";
    el.articleChosen.hidden = !article;
    el.articleTitle.textContent = article ? format(texts.knowledgeChosen, { title: article.title }) : "";
  }

  // The screen pop -------------------------------------------------------------------------------

  var popParts = {};
  Array.prototype.forEach.call(el.pop.querySelectorAll("[data-pop]"), function (node) {
    popParts[node.dataset.pop] = node;
  });

  function ivrText(ivr) {
    if (!ivr) return texts.ivrNone;
    var digits = ivr.digits || "—";
    if (ivr.choice === "kind") return format(texts.ivrKind, { kind: ivr.kind_display || ivr.kind, digits: digits });
    if (ivr.choice === "operator") return format(texts.ivrOperator, { digits: digits });
    if (ivr.choice === "progress") return format(texts.ivrProgress, { digits: digits });
    return texts.ivrNone;
  }

  function renderPop(payload) {
    el.pop.querySelector("[data-pop-empty]").hidden = true;
    el.pop.querySelector("[data-pop-body]").hidden = false;
    popParts.caller.textContent = payload.caller || "—";
    popParts.ticket.textContent = "";
    if (payload.ticket) {
      popParts.ticket.appendChild(link(payload.ticket.number));
      popParts.ticket.appendChild(document.createTextNode(" "));
      popParts.ticket.appendChild(make("span", "badge", payload.ticket.kind_display));
    } else {
      popParts.ticket.textContent = "—";
    }
    popParts.ivr.textContent = ivrText(payload.ivr);
    popParts.queue.textContent = format(texts.queueWait, {
      queue: payload.queue || "—",
      seconds: payload.wait_seconds === null || payload.wait_seconds === undefined ? "—" : payload.wait_seconds,
    });
    var citizen = payload.citizen;
    el.pop.querySelector("[data-pop-citizen]").hidden = !citizen;
    el.pop.querySelector("[data-pop-no-citizen]").hidden = !!citizen;
    if (citizen) {
      popParts["citizen-name"].textContent = citizen.name || "—";
      popParts["citizen-id"].textContent = citizen.id_masked || "—";
      popParts["citizen-phones"].textContent = (citizen.phones || []).join("、") || "—";
      var where = [citizen.district_name, citizen.address].filter(Boolean).join(" ");
      popParts["citizen-address"].textContent = where || "—";
    }
    renderHistory(payload.history || [], payload.history_total || 0);
  }

  function renderHistory(rows, total) {
    var body = el.pop.querySelector("[data-pop-history]");
    body.textContent = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", "num")).appendChild(link(row.number));
      tr.appendChild(make("td", "", formatDate(row.created_at)));
      tr.appendChild(make("td", "", row.title || "—"));
      var status = tr.appendChild(make("td"));
      status.appendChild(make("span", "badge", row.status_display));
      tr.appendChild(make("td", "", row.department_name || "—"));
      tr.appendChild(make("td", row.satisfaction === "unsatisfied" ? "overdue" : "", row.satisfaction_display || "—"));
      body.appendChild(tr);
    });
    popParts["history-total"].textContent =
      total > rows.length ? format(texts.historyMore, { shown: rows.length, total: total }) : String(total);
    el.pop.querySelector("[data-pop-history-wrap]").hidden = !rows.length;
    el.pop.querySelector("[data-pop-no-history]").hidden = !!rows.length;
  }

  function setCallState(name) {
    el.callState.dataset.state = name;
    el.callState.textContent = { idle: texts.idle, "on-call": texts.onCall, ended: texts.callEnded }[name];
  }

  // A pop from the event or from a snapshot. The same call again (a resync) only redraws the panel.
  function showPop(payload) {
    var same = state.call && state.call.call === payload.call;
    state.call = payload;
    if (!same) state.callEndedAt = 0;
    el.pop.dataset.call = String(payload.call);
    if (payload.ticket) el.pop.dataset.ticket = payload.ticket.number;
    else el.pop.removeAttribute("data-ticket");
    renderPop(payload);
    setCallState("on-call");
    showCitizenAddressButton();
    if (same) return;
    state.citizen = payload.citizen ? payload.citizen.id : null;
    var announce = payload.ticket
      ? format(texts.popAnnounce, { caller: payload.caller || "—", number: payload.ticket.number })
      : format(texts.popAnnounceNoTicket, { caller: payload.caller || "—" });
    var idle = !document.activeElement || document.activeElement === document.body;
    if (payload.ticket) {
      placeInLists(
        Object.assign({ caller_number: payload.caller, created_at: payload.answered_at }, payload.ticket),
        { fresh: true, partial: true },
      );
      if (!state.ticket || state.ticket.number !== payload.ticket.number) {
        var citizen = payload.citizen ? { id: payload.citizen.id } : null;
        switchTo(Object.assign({ citizen: citizen, quiet: true }, payload.ticket));
      }
    } else {
      switchTo(null, payload.ivr && payload.ivr.kind);
      state.newForCall = payload.call;
      if (state.citizen) duplicatesSoon(0); // the caller's recent tickets, before a word is typed
    }
    setStatus("info", announce);
    if (idle) el.title.focus();
  }

  function callEnded(callId) {
    if (state.call && state.call.call === callId) {
      setCallState("ended");
      state.callEndedAt = Date.now();
    }
  }

  function showCitizenAddressButton() {
    var citizen = state.call && state.call.citizen;
    var ours = citizen && (!state.ticket || !state.ticket.citizen || state.ticket.citizen.id === citizen.id);
    el.citizenAddress.hidden = !(ours && citizen.address);
  }

  // The operator's queue -------------------------------------------------------------------------

  var lists = {};
  ["drafts", "callbacks", "registered"].forEach(function (name) {
    lists[name] = {
      body: document.querySelector('[data-list="' + name + '"]'),
      wrap: document.querySelector('[data-list-wrap="' + name + '"]'),
      empty: document.querySelector('[data-list-empty="' + name + '"]'),
      count: document.querySelector('[data-count="' + name + '"]'),
    };
  });

  var renderers = {
    drafts: function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", "num")).appendChild(link(row.number));
      tr.appendChild(make("td", "", formatDate(row.created_at)));
      tr.appendChild(make("td", "", row.kind_display || "—"));
      tr.appendChild(make("td", "mono", row.caller_number || "—"));
      tr.appendChild(make("td", "", row.title || "—"));
      var button = make("button", "secondary small", texts.continue);
      button.type = "button";
      button.dataset.load = row.number;
      tr.appendChild(make("td")).appendChild(button);
      return tr;
    },
    callbacks: function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", "num")).appendChild(link(row.number));
      tr.appendChild(make("td", "", row.title || "—"));
      tr.appendChild(make("td", "", row.lead_department_name || "—"));
      tr.appendChild(make("td", "", formatDate(row.replied_at)));
      tr.appendChild(make("td", "", formatDate(row.callback_due_at)));
      return tr;
    },
    registered: function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", "num")).appendChild(link(row.number));
      tr.appendChild(make("td", "", formatDate(row.registered_at)));
      tr.appendChild(make("td", "", row.kind_display || "—"));
      tr.appendChild(make("td")).appendChild(make("span", "badge", row.status_display));
      var citizen = tr.appendChild(make("td"));
      if (row.citizen) {
        citizen.appendChild(document.createTextNode((row.citizen.name || "—") + " "));
        citizen.appendChild(make("span", "mono", row.citizen.id_masked));
      } else {
        citizen.textContent = "—";
      }
      tr.appendChild(make("td", "mono", row.caller_number || "—"));
      tr.appendChild(make("td", "", row.title || "—"));
      tr.appendChild(make("td", "", row.lead_department_name || "—"));
      return tr;
    },
  };

  function findRow(name, number) {
    var rows = lists[name].body.rows;
    for (var i = 0; i < rows.length; i++) if (rows[i].dataset.number === number) return rows[i];
    return null;
  }

  function drawRow(name, row) {
    var tr = renderers[name](row);
    tr.dataset.number = row.number;
    return tr;
  }

  function renderList(name, rows) {
    var list = lists[name];
    list.body.textContent = "";
    state.rows[name] = {};
    rows.forEach(function (row) {
      state.rows[name][row.number] = row;
      list.body.appendChild(drawRow(name, row));
    });
    toggleList(name);
  }

  function upsertRow(name, row, front) {
    var merged = Object.assign({}, state.rows[name][row.number], row);
    state.rows[name][row.number] = merged;
    var tr = drawRow(name, merged);
    var existing = findRow(name, row.number);
    if (existing) existing.replaceWith(tr);
    else if (front) lists[name].body.insertBefore(tr, lists[name].body.firstChild);
    else lists[name].body.appendChild(tr);
    tr.classList.add("is-new");
    toggleList(name);
  }

  function removeRow(name, number) {
    delete state.rows[name][number];
    var existing = findRow(name, number);
    if (existing) existing.remove();
    toggleList(name);
  }

  function toggleList(name) {
    var list = lists[name];
    var count = list.body.rows.length;
    list.wrap.hidden = !count;
    list.empty.hidden = !!count;
    list.count.textContent = String(count);
  }

  function isMine(number) {
    return !!(
      state.rows.drafts[number] ||
      state.rows.callbacks[number] ||
      state.rows.registered[number] ||
      state.watching[number] ||
      (state.ticket && state.ticket.number === number)
    );
  }

  // One of the operator's tickets as it is now: into the list its status belongs to, out of the others.
  // `fresh`: this page just wrote it (or a pop just named it), so it may join the lists at the top.
  function placeInLists(ticket, options) {
    options = options || {};
    if (!options.partial && !noteVersion(ticket)) return;
    var number = ticket.number;
    if (ticket.status === "draft") upsertRow("drafts", ticket, true);
    else removeRow("drafts", number);
    if (options.partial) return;
    if (ticket.status === "replied") upsertRow("callbacks", ticket, false);
    else removeRow("callbacks", number);
    if (ON_THE_WAY.indexOf(ticket.status) >= 0) state.watching[number] = true;
    else delete state.watching[number];
    if (ticket.registered_at && (state.rows.registered[number] || options.fresh)) upsertRow("registered", ticket, true);
  }

  // An event named one of the operator's tickets: read it and move it where it now belongs.
  function refresh(number) {
    request("GET", ticketApi(number)).then(
      function (result) {
        if (result.status === 404) {
          ["drafts", "callbacks", "registered"].forEach(function (name) {
            removeRow(name, number);
          });
          delete state.watching[number];
          return;
        }
        if (!result.ok) return live.resync();
        var ticket = result.data;
        placeInLists(ticket);
        if (state.ticket && state.ticket.number === number) followFormTicket(ticket);
      },
      function () {
        live.resync();
      },
    );
  }

  // The form's ticket changed elsewhere (or by this page: then the version is the one we have).
  function followFormTicket(ticket) {
    if (state.busy || ticket.version <= (state.ticket.version || 0)) return;
    if (!state.dirty) {
      fillForm(ticket);
      state.ticket = ticket;
      showFormTicket();
    }
    setStatus("info", format(texts.changedElsewhere, { number: ticket.number, status: ticket.status_display }));
  }

  // Live ---------------------------------------------------------------------------------------------

  var live = HotlineLive.connect({
    view: "operator",
    onSnapshot: function (data) {
      var queue = data.queue || {};
      renderList("drafts", queue.drafts || []);
      renderList("callbacks", queue.callbacks || []);
      renderList("registered", (data.tickets && data.tickets.registered) || []);
      state.watching = {};
      (queue.watching || []).forEach(function (number) {
        state.watching[number] = true;
      });
      if (data.call) showPop(data.call);
      else if (state.call) callEnded(state.call.call);
    },
    onEvent: function (name, payload) {
      if (!payload) return;
      if (name === "call.pop") return showPop(payload);
      if (name === "call.hangup") return callEnded(payload.call);
      if (name === "callback.due" && state.rows.callbacks[payload.ticket]) {
        upsertRow("callbacks", { number: payload.ticket, callback_due_at: payload.due_at }, false);
        return;
      }
      if ((name.indexOf("ticket.") === 0 || name === "callback.due") && payload.ticket && isMine(payload.ticket)) {
        refresh(payload.ticket);
      }
    },
  });

  // Wiring -------------------------------------------------------------------------------------------

  // Text typed into the category box counts before an action, as it does when the box is left.
  function settleCategory() {
    if (document.activeElement === el.category) {
      categoryPicker.close();
      resolveCategoryText();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    settleCategory();
    save();
  });

  function edited(event) {
    var name = event.target.name;
    if (FIELDS.indexOf(name) < 0 || name === "category") return; // the category counts once chosen
    markDirty(name);
    if (name !== "address") explainSoon();
    if (name !== "kind" && name !== "urgency") duplicatesSoon();
  }
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);

  el.department.addEventListener("change", function () {
    state.departmentByHand = true;
  });
  el.dispatch.addEventListener("click", dispatch);
  el.close.addEventListener("click", closeFirstContact);
  el.newTicket.addEventListener("click", newTicket);
  el.articleClear.addEventListener("click", function () {
    chooseArticle(null);
    el.knowledge.focus();
  });
  el.citizenAddress.addEventListener("click", function () {
    var citizen = state.call && state.call.citizen;
    if (!citizen) return;
    el.address.value = citizen.address || "";
    markDirty("address");
    if (!el.district.value && citizen.district) {
      el.district.value = String(citizen.district);
      markDirty("district");
      explainSoon();
    }
    duplicatesSoon();
    el.address.focus();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-load]");
    if (button) openDraft(button.dataset.load, true);
  });

  var SHORTCUTS = {
    KeyS: save,
    KeyD: dispatch,
    KeyF: closeFirstContact,
    KeyN: newTicket,
    KeyC: function () {
      el.category.focus();
      el.category.select();
    },
    KeyT: function () {
      el.title.focus();
    },
    KeyK: function () {
      el.knowledge.focus();
      el.knowledge.select();
    },
    KeyR: function () {
      el.department.focus();
    },
  };
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
    var shortcut = SHORTCUTS[event.code];
    if (!shortcut) return;
    event.preventDefault(); // the browser's own Alt shortcuts (menus, address bar) give way on this page
    settleCategory();
    knowledgePicker.close();
    shortcut();
  });

  // Leaving the page with a draft half written: keep it (the request outlives the page).
  window.addEventListener("pagehide", function () {
    if (!state.dirty || !state.ticket || !state.ticket.number || state.ticket.status !== "draft") return;
    var body = Object.assign({ version: state.ticket.version }, formBody());
    request("PATCH", ticketApi(state.ticket.number), body, { keepalive: true }).catch(function () {});
  });

  showFormTicket();
})();

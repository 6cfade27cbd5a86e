// Tasky front end: plain JS against the JSON API on the same origin.
"use strict";

const TOKEN_KEY = "tasky.token";
const USER_KEY = "tasky.user";
const $ = (id) => document.getElementById(id);

function showMessage(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

// api calls the JSON API and throws an Error carrying the server's message.
async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && path !== "/api/login") {
    // The token expired or the server restarted with a new key.
    logout("Your session has ended, please log in again.");
    throw new Error("not logged in");
  }
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error((data && data.error) || res.statusText);
  return data;
}

function showView() {
  const user = sessionStorage.getItem(USER_KEY);
  const loggedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
  $("login-view").hidden = loggedIn;
  $("todo-view").hidden = !loggedIn;
  $("logout").hidden = !loggedIn;
  if (loggedIn) {
    $("greeting").textContent = user + "'s todos";
    loadTodos();
  }
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  $("todos").replaceChildren();
  showView();
  showMessage(message);
}

function renderTodo(todo) {
  const li = document.createElement("li");
  li.className = todo.done ? "done" : "";

  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = todo.done;
  box.setAttribute("aria-label", "Done");
  box.addEventListener("change", async () => {
    try {
      const updated = await api("PATCH", "/api/todos/" + todo.id, { done: box.checked });
      li.replaceWith(renderTodo(updated));
    } catch (err) {
      box.checked = !box.checked;
      showMessage(err.message);
    }
  });

  const title = document.createElement("span");
  title.textContent = todo.title; // textContent, never innerHTML: titles are user input

  const del = document.createElement("button");
  del.type = "button";
  del.className = "delete";
  del.textContent = "\u00d7";
  del.setAttribute("aria-label", "Delete");
  del.addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/todos/" + todo.id);
      li.remove();
      updateEmpty();
    } catch (err) {
      showMessage(err.message);
    }
  });

  li.append(box, title, del);
  return li;
}

function updateEmpty() {
  $("empty").hidden = $("todos").children.length > 0;
}

async function loadTodos() {
  try {
    const todos = await api("GET", "/api/todos");
    $("todos").replaceChildren(...todos.map(renderTodo));
    updateEmpty();
  } catch (err) {
    showMessage(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const username = form.elements.username.value.trim();
    try {
      const data = await api("POST", "/api/login", { username, password: form.elements.password.value });
      sessionStorage.setItem(TOKEN_KEY, data.token);
      sessionStorage.setItem(USER_KEY, username);
      form.reset();
      showMessage("");
      showView();
    } catch (err) {
      showMessage(err.message);
    }
  });

  $("add-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = ev.target.elements.title;
    try {
      const todo = await api("POST", "/api/todos", { title: input.value });
      $("todos").append(renderTodo(todo));
      input.value = "";
      updateEmpty();
      showMessage("");
    } catch (err) {
      showMessage(err.message);
    }
  });

  $("logout").addEventListener("click", () => logout(""));

  fetch("/healthz")
    .then((res) => res.json())
    .then((h) => { $("version").textContent = "Tasky " + h.version; })
    .catch(() => {});

  showView();
});

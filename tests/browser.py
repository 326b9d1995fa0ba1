"""Playwright with the machine's Debian chromium: launching it, logging in, and catching
the page's console and script errors (the CSP refusals among them)."""

from __future__ import annotations

import os
import shutil

from playwright.async_api import Browser, Page, Playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def launch(pw: Playwright, *args: str) -> Browser:
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # root has no user namespace
    return await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*args, *sandbox])


def collect_errors(page: Page, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))


async def log_in(page: Page, base: str, username: str, password: str) -> None:
    """Through the login form; returns once the page it leads to (the role's home) loaded."""
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("button[type=submit]")

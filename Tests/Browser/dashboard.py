#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium (selenium + chromedriver from Debian) for
Tests/EndToEndTests/DashboardBrowserTests.swift. Prints one JSON object with what it saw.

    dashboard.py BASE_URL LIVE_RUN CANCEL_RUN TOKEN SCREENSHOT_DIR

LIVE_RUN is running a step that prints `tick N` slowly: the page must show new lines without a reload
and turn to `passed`. CANCEL_RUN is running a long step: the Cancel button (asking for the token once)
must stop it. Screenshots: runs.png (1280x800), run.png (1280x800), run-phone.png (390x844).
"""
import json, shutil, sys, tempfile, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

base, live_run, cancel_run, token, shots = sys.argv[1:6]
options = Options()
profile = tempfile.mkdtemp(prefix="pushbox-chromium-")
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
             f"--user-data-dir={profile}"):
    options.add_argument(flag)
driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
result = {}


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.1)
    return None


try:
    driver.get(f"{base}/runs/{live_run}")
    driver.execute_script("window.__pushboxMarker = 42")
    first = driver.find_element(By.CSS_SELECTOR, 'pre.log[data-log="count"]').text
    result["ticks_at_load"] = first.count("tick ")
    # New lines arrive over server-sent events: the marker proves the page was not reloaded meanwhile.
    seen = wait_for(lambda: driver.execute_script("return window.__pushboxMarker") == 42 and
                    driver.find_element(By.CSS_SELECTOR, 'pre.log[data-log="count"]').text.count("tick ") > result["ticks_at_load"] + 3)
    result["live_lines_without_reload"] = bool(seen)
    result["live_line_anchor"] = bool(wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, 'pre.log span.l a.n')))
    result["final_state"] = wait_for(lambda: driver.find_element(By.ID, "state").text if driver.find_element(By.ID, "state").text in ("passed", "failed") else None, timeout=90)
    result["final_ticks"] = driver.find_element(By.CSS_SELECTOR, 'pre.log[data-log="count"]').text.count("tick ")
    driver.save_screenshot(f"{shots}/run.png")
    driver.get(f"{base}/")
    result["runs_listed"] = len(driver.find_elements(By.CSS_SELECTOR, "table tr")) - 1
    driver.save_screenshot(f"{shots}/runs.png")

    driver.get(f"{base}/runs/{cancel_run}")
    driver.find_element(By.CSS_SELECTOR, 'button[data-action="cancel"]').click()
    alert = WebDriverWait(driver, 10).until(expected_conditions.alert_is_present())
    alert.send_keys(token)
    alert.accept()
    result["cancel_state"] = wait_for(lambda: driver.find_element(By.ID, "state").text if driver.find_element(By.ID, "state").text == "canceled" else None, timeout=60)

    driver.set_window_size(390, 844)
    driver.get(f"{base}/runs/{live_run}")
    result["phone_width_overflow"] = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
    driver.save_screenshot(f"{shots}/run-phone.png")
finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(result))

"""The API docs page in headless Chromium under its Content-Security-Policy: it renders every operation, "Try it out"
works, nothing is refused by the policy, and another site cannot frame it."""

from tests.support.browser import NEEDS_CHROMIUM

pytestmark = NEEDS_CHROMIUM


def operations(document):
    methods = {"get", "post", "put", "patch", "delete"}
    return sum(1 for item in document["paths"].values() for method in item if method in methods)


def refusals(messages):
    return [text for text in messages if "Content Security Policy" in text or "page error" in text]


def test_the_docs_render_and_try_it_out_works_under_the_policy(live, page, client):
    page.goto(live.url + "/api/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations(client.get("/api/v1/openapi.json").json)
    assert "Step-down transition coordination service" in page.locator(".info .title").inner_text()

    page.locator(".opblock-summary", has_text="/healthz").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody td.response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert not refusals(page.messages), page.messages


def test_another_site_cannot_frame_the_docs(live, page):
    page.set_content('<iframe id="docs" src="%s/api/docs" width="800" height="600"></iframe>' % live.url)
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#docs")
    assert frame.locator(".swagger-ui").count() == 0
    assert any("frame-ancestors" in text for text in page.messages), page.messages

"""Hello-world Flask app: the throughput baseline the product's endpoints are compared against."""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "world"}

"""Sessions: durable networks behind one service shared by the JSON API and the HTML pages."""

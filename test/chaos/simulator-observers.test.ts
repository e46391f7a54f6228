import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatorServer, type SimulatorRequest, type SimulatorResponse } from '../../src/providers/simulator-kit.js';

class EchoSimulator extends SimulatorServer {
  handled = 0;
  protected handle(req: SimulatorRequest): SimulatorResponse {
    this.handled += 1;
    return { status: 200, body: { path: req.path } };
  }
}

let sim: EchoSimulator;
afterEach(async () => {
  await sim.stop();
});

describe('simulator observers (crash-trial hooks)', () => {
  it('holds a request until released, then reports the answer once written', async () => {
    sim = new EchoSimulator();
    const url = await sim.start();
    let release: () => void = () => undefined;
    const seen: string[] = [];
    sim.onRequest((req) => {
      seen.push(req.path);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const responded = new Promise<{ status: number; body: string }>((resolve) => {
      sim.onResponded((_req, res) => resolve(res));
    });
    let answered = false;
    const pending = request(`${url}/hold?x=1`).then(async (res) => {
      answered = true;
      return res.body.text();
    });
    await expect.poll(() => seen).toEqual(['/hold']);
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    expect(sim.handled).toBe(0);
    release();
    expect(JSON.parse(await pending)).toEqual({ path: '/hold' });
    expect(await responded).toEqual({ status: 200, body: '{"path":"/hold"}' });
    expect(sim.requests).toHaveLength(1);
  });

  it("'drop' closes the connection with the request neither handled nor recorded; removed observers stop", async () => {
    sim = new EchoSimulator();
    const url = await sim.start();
    const remove = sim.onRequest(() => 'drop');
    await expect(request(`${url}/gone`).then((r) => r.body.text())).rejects.toThrow();
    expect(sim.handled).toBe(0);
    expect(sim.requests).toHaveLength(0);
    remove();
    const res = await request(`${url}/back`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(sim.handled).toBe(1);
  });
});

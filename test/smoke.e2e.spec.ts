import request from 'supertest';
import { createTestApp, login, TestApp } from './support/test-app';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('logs in and reads the profile', async () => {
    const admin = await login(t.http);
    const res = await request(t.http).get('/auth/profile').set('Cookie', admin.cookie).expect(200);
    expect(res.body).toMatchObject({ username: 'admin' });
  });
});
